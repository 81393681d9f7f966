//! Performance mode with PostgreSQL under concurrent load, across a real SIGTERM: every
//! request that got a response got a complete, correct one, the server drains and
//! returns, and every account whose signup was answered `201` exists afterwards. Its own
//! test binary, because SIGTERM goes to the whole process.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use chopin_core::{App, JwtSecret, ServerMode};
use common::{client, config_in, postgres::cluster, start_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Notify;

const CLIENTS: usize = 8;
/// Signups answered before the signal is sent.
const BEFORE_SIGNAL: usize = 24;
const LIMIT: Duration = Duration::from_secs(60);

fn account(client: usize, n: usize) -> Value {
    json!({
        "email": format!("c{client}n{n}@example.com"),
        "username": format!("c{client}n{n}"),
        "password": "correct horse battery",
    })
}

/// Signs up and reads `/me` until a request fails to connect; returns the accounts
/// whose signup got `201`. Panics on any response that is not complete and correct.
async fn load(
    base: String,
    id: usize,
    answered: Arc<AtomicUsize>,
    progress: Arc<Notify>,
) -> Vec<Value> {
    let http = client();
    let mut created = Vec::new();
    for n in 0.. {
        let user = account(id, n);
        let Ok(response) = http
            .post(format!("{base}/api/auth/signup"))
            .json(&user)
            .send()
            .await
        else {
            break;
        };
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .expect("a started answer is complete JSON");
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["user"]["username"], user["username"], "{body}");
        created.push(user.clone());
        answered.fetch_add(1, Ordering::SeqCst);
        progress.notify_one();

        let token = body["access_token"].as_str().expect("token").to_owned();
        let Ok(response) = http
            .get(format!("{base}/api/auth/me"))
            .bearer_auth(&token)
            .send()
            .await
        else {
            break;
        };
        let status = response.status();
        let me: Value = response
            .json()
            .await
            .expect("a started answer is complete JSON");
        assert_eq!(status, StatusCode::OK, "{me}");
        assert_eq!(me["username"], user["username"], "{me}");
    }
    created
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_postgres_load_loses_no_answered_request() {
    // Installed first, so the signal never takes this process's default action.
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM listener");
    let url = cluster().fresh_database();
    let mut config = config_in(ServerMode::Performance);
    config.database_url = url.parse().expect("database URL");
    config.jwt_secret = JwtSecret::new("a test secret that is at least 32 bytes");
    config.workers = 4;
    config.shutdown_timeout = Duration::from_secs(20);
    let server = App::with_config(config.clone())
        .await
        .expect("app")
        .bind()
        .await
        .expect("bind");
    let base = format!("http://{}", server.local_addr());
    let serving = tokio::spawn(server.run());

    let answered = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(Notify::new());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            tokio::spawn(load(
                base.clone(),
                id,
                Arc::clone(&answered),
                Arc::clone(&progress),
            ))
        })
        .collect();
    tokio::time::timeout(LIMIT, async {
        while answered.load(Ordering::SeqCst) < BEFORE_SIGNAL {
            progress.notified().await;
        }
    })
    .await
    .expect("the load is answered");

    let pid = std::process::id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill(1)");
    assert!(killed.success());
    tokio::time::timeout(LIMIT, sigterm.recv())
        .await
        .expect("the signal arrives");

    tokio::time::timeout(LIMIT, serving)
        .await
        .expect("the server drains in time")
        .expect("server task")
        .expect("a clean shutdown");
    let mut created = Vec::new();
    for load in clients {
        created.extend(
            tokio::time::timeout(LIMIT, load)
                .await
                .expect("clients stop")
                .expect("every answer was complete and correct"),
        );
    }
    assert!(created.len() >= BEFORE_SIGNAL);

    let restarted = start_app(App::with_config(config).await.expect("app")).await;
    for user in &created {
        let response = client()
            .post(restarted.url("/api/auth/login"))
            .json(&json!({"email": user["email"], "password": user["password"]}))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), StatusCode::OK, "{user}");
    }
    restarted.shutdown().await.expect("shutdown");
}
