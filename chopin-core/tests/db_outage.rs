//! PostgreSQL going away while the server runs: requests that need it get a JSON 503,
//! `/readyz` says why, everything else keeps working, and the server recovers when it
//! returns. Its own test binary, so stopping the cluster disturbs no other test.

mod common;

use std::time::{Duration, Instant};

use chopin_core::{App, JwtSecret, ServerMode};
use common::{EVENT_TIMEOUT, client, config_in, postgres::cluster, start_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn me(base: &str, token: &str) -> (StatusCode, Value) {
    let response = client()
        .get(format!("{base}/api/auth/me"))
        .bearer_auth(token)
        .timeout(EVENT_TIMEOUT)
        .send()
        .await
        .expect("the server answers while the database is down");
    let status = response.status();
    (status, response.json().await.expect("JSON body"))
}

async fn get(url: &str) -> (StatusCode, Value) {
    let response = client()
        .get(url)
        .timeout(EVENT_TIMEOUT)
        .send()
        .await
        .expect("the server answers while the database is down");
    let status = response.status();
    (status, response.json().await.expect("JSON body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_database_is_a_503_and_the_server_recovers() {
    let cluster = cluster();
    let url = cluster.fresh_database();
    for mode in [ServerMode::Standard, ServerMode::Performance] {
        let mut config = config_in(mode);
        config.database_url = url.parse().expect("URL");
        config.jwt_secret = JwtSecret::new("a test secret that is at least 32 bytes");
        config.database_acquire_timeout = Duration::from_secs(1);
        let server = start_app(App::with_config(config).await.expect("app")).await;
        let response = client()
            .post(server.url("/api/auth/signup"))
            .json(&json!({"email": format!("{mode}@example.com"), "username": format!("{mode}-user"), "password": "correct horse battery"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{mode}");
        let body: Value = response.json().await.unwrap();
        let token = body["access_token"].as_str().unwrap().to_owned();
        assert_eq!(me(&server.base, &token).await.0, StatusCode::OK);

        cluster.stop_server();
        for _ in 0..2 {
            let (status, body) = me(&server.base, &token).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{mode}: {body}");
            assert_eq!(body["error"], "service_unavailable");
            assert!(body["request_id"].is_string());
            let message = body["message"].as_str().unwrap();
            for leak in ["sqlx", "refused", "pool", "postgres", "127.0.0.1"] {
                assert!(!message.contains(leak), "{mode}: {message}");
            }
        }
        let welcome = client().get(server.url("/")).send().await.unwrap();
        assert_eq!(
            welcome.status(),
            StatusCode::OK,
            "{mode}: routes without the database"
        );
        let (status, body) = get(&server.url("/readyz")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{mode}: {body}");
        assert_eq!(body["error"], "service_unavailable", "{mode}: {body}");
        assert_eq!(
            body["message"], "the database is unavailable",
            "{mode}: {body}"
        );
        let (status, body) = get(&server.url("/healthz")).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{mode}: the process still serves: {body}"
        );

        cluster.start_server();
        // The pool reconnects on its own schedule and announces nothing: poll, bounded.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (status, body) = me(&server.base, &token).await;
            if status == StatusCode::OK {
                assert_eq!(body["email"], format!("{mode}@example.com"));
                let (status, body) = get(&server.url("/readyz")).await;
                assert_eq!(status, StatusCode::OK, "{mode}: ready again: {body}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{mode}: not recovered: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        server.shutdown().await.unwrap();
    }
}
