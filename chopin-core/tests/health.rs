//! `GET /healthz` and `GET /readyz` in both modes, on SQLite and PostgreSQL: what they
//! answer, the migrations `/readyz` requires, and the drain window in which `/readyz`
//! answers `503` while every other request is still served. A database outage is in
//! db_outage.rs, and SIGTERM and SIGINT in shutdown_delay.rs (each stops what the whole
//! test process shares).

mod common;

use std::time::{Duration, Instant};

use chopin_core::{
    App, Config, ServerMode,
    sqlx::{
        SqlSafeStr,
        migrate::{Migration, MigrationType, Migrator},
    },
};
use common::{
    EVENT_TIMEOUT, app, client, config_in, postgres::cluster, raw::connect, start_app, within,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MODES: [ServerMode; 2] = [ServerMode::Standard, ServerMode::Performance];

async fn get(url: String) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = client()
        .get(url)
        .timeout(EVENT_TIMEOUT)
        .send()
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.expect("a JSON body"))
}

/// `/readyz`'s not-ready answer: a `503` in the JSON error shape, with `Retry-After`;
/// its message.
fn not_ready(answer: &(u16, reqwest::header::HeaderMap, Value)) -> String {
    let (status, headers, body) = answer;
    assert_eq!(*status, 503, "{body}");
    assert_eq!(body["error"], "service_unavailable", "{body}");
    assert_eq!(body["status"], 503, "{body}");
    assert!(body["request_id"].is_string(), "{body}");
    assert!(headers.contains_key("retry-after"), "{headers:?}");
    body["message"].as_str().expect("a message").to_owned()
}

fn postgres_config(mode: ServerMode) -> Config {
    let mut config = config_in(mode);
    config.database_url = cluster().fresh_database().parse().expect("URL");
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_answer_200_on_sqlite_and_postgresql_in_both_modes() {
    for mode in MODES {
        for (backend, config) in [
            ("sqlite", config_in(mode)),
            ("postgres", postgres_config(mode)),
        ] {
            let server = start_app(app(config).await).await;
            let (status, _, body) = get(server.url("/healthz")).await;
            assert_eq!(
                (status, &body),
                (200, &serde_json::json!({"status": "ok"})),
                "{mode} {backend}"
            );
            let (status, _, body) = get(server.url("/readyz")).await;
            assert_eq!(
                (status, &body),
                (200, &serde_json::json!({"status": "ready"})),
                "{mode} {backend}"
            );
            let head = client()
                .head(server.url("/readyz"))
                .send()
                .await
                .expect("HEAD");
            assert_eq!(head.status(), 200, "{mode} {backend}");
            server.shutdown().await.expect("shutdown");
        }
    }
}

#[tokio::test]
async fn both_are_in_the_openapi_document() {
    let server = start_app(app(config_in(ServerMode::Standard)).await).await;
    let (status, _, document) = get(server.url("/api-docs/openapi.json")).await;
    assert_eq!(status, 200);
    let paths = &document["paths"];
    assert_eq!(paths["/healthz"]["get"]["tags"][0], "health", "{paths}");
    let readyz = &paths["/readyz"]["get"];
    assert_eq!(readyz["tags"][0], "health", "{readyz}");
    assert!(readyz["responses"]["200"].is_object(), "{readyz}");
    assert_eq!(
        readyz["responses"]["503"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Error",
        "{readyz}"
    );
    server.shutdown().await.expect("shutdown");
}

/// An application migration, as `sqlx::migrate!()` would embed it.
fn widgets() -> Migrator {
    let sql = "CREATE TABLE widgets (id BIGINT PRIMARY KEY)".into_sql_str();
    let migration = Migration::new(1, "widgets".into(), MigrationType::Simple, sql, false);
    Migrator::with_migrations(vec![migration])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_requires_chopins_and_the_applications_migrations() {
    for (backend, config) in [
        ("sqlite", config_in(ServerMode::Standard)),
        ("postgres", postgres_config(ServerMode::Performance)),
    ] {
        let app = App::with_config(config).await.expect("app");
        let app = app.migrate(&widgets()).await.expect("migrate");
        let db = app.state().db().clone();
        let server = start_app(app).await;
        assert_eq!(get(server.url("/readyz")).await.0, 200, "{backend}");

        // As if the database had been restored from a backup older than this build.
        chopin_core::sqlx::query("DELETE FROM _sqlx_migrations")
            .execute(&db)
            .await
            .expect("forget the application's migration");
        let message = not_ready(&get(server.url("/readyz")).await);
        assert_eq!(
            message, "the database lacks this build's application migrations",
            "{backend}"
        );
        chopin_core::sqlx::query("DELETE FROM _chopin_migrations")
            .execute(&db)
            .await
            .expect("forget Chopin's migrations");
        let message = not_ready(&get(server.url("/readyz")).await);
        assert_eq!(
            message, "the database lacks this build's chopin migrations",
            "{backend}"
        );
        // Liveness is about the process, not its database.
        assert_eq!(get(server.url("/healthz")).await.0, 200, "{backend}");
        server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_during_the_drain_window_while_requests_are_still_served() {
    const DELAY: Duration = Duration::from_secs(3);
    for mode in MODES {
        let mut config = config_in(mode);
        config.shutdown_delay = DELAY;
        let mut server = start_app(app(config).await).await;
        // Something polls `/readyz`: the drain is announced before the listener closes.
        assert_eq!(get(server.url("/readyz")).await.0, 200, "{mode}");
        // A connection opened before shutdown, kept alive through it.
        let kept = client();
        let before = kept.get(server.url("/json")).send().await.expect("before");
        assert_eq!(before.status(), 200, "{mode}");

        server.begin_shutdown().await;
        let began = Instant::now();
        let answer = within("/readyz to answer 503", async {
            loop {
                let answer = get(server.url("/readyz")).await;
                if answer.0 == 503 {
                    return answer;
                }
            }
        })
        .await;
        assert_eq!(
            not_ready(&answer),
            "shutting down: send requests to another instance",
            "{mode}"
        );
        // Still accepting (each `client()` opens a new connection) and serving: routes,
        // fast routes, a write, and the kept-alive connection.
        assert_eq!(get(server.url("/healthz")).await.0, 200, "{mode}");
        let fast = client()
            .get(server.url("/json"))
            .send()
            .await
            .expect("fast route");
        assert_eq!(fast.status(), 200, "{mode}");
        let write = client()
            .post(server.url("/items"))
            .json(&serde_json::json!({"during": "the window"}))
            .send()
            .await
            .expect("a write");
        assert_eq!(write.status(), 200, "{mode}");
        let again = kept
            .get(server.url("/plaintext"))
            .send()
            .await
            .expect("kept");
        assert_eq!(again.status(), 200, "{mode}");
        assert!(
            began.elapsed() < DELAY,
            "{mode}: the checks above took longer than the window they check"
        );

        let base = server.base.clone();
        server.shutdown().await.expect("a clean exit");
        assert!(
            began.elapsed() >= DELAY - Duration::from_millis(100),
            "{mode}: the listener closed {:?} after shutdown began, before SHUTDOWN_DELAY_SECS",
            began.elapsed()
        );
        assert!(
            client()
                .get(format!("{base}/healthz"))
                .send()
                .await
                .is_err(),
            "{mode}: no new connections once drained"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_poller_the_drain_begins_at_once() {
    for mode in MODES {
        let mut config = config_in(mode);
        // Far longer than the test waits for the server to stop.
        config.shutdown_delay = EVENT_TIMEOUT * 10;
        let mut server = start_app(app(config).await).await;
        assert_eq!(get(server.url("/healthz")).await.0, 200, "{mode}");
        server.begin_shutdown().await;
        server
            .shutdown()
            .await
            .expect("drained without waiting for a poller");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_the_listener_closes_idle_connections_get_one_more_answer_then_close() {
    for mode in MODES {
        // The route and, in performance mode, the fast lane.
        for path in ["/healthz", "/json"] {
            let mut config = config_in(mode);
            // Longer than the test waits: only the clients closing can end the drain.
            config.shutdown_delay = EVENT_TIMEOUT * 10;
            config.shutdown_timeout = EVENT_TIMEOUT * 10;
            let mut server = start_app(app(config).await).await;
            let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
            let mut kept = connect(&server).await;
            kept.write_all(request.as_bytes()).await.expect("write");
            let mut first = [0u8; 1024];
            let read = within("the first answer", kept.read(&mut first)).await;
            assert!(read.expect("read") > 0, "{mode} {path}");

            // Nothing polls `/readyz`: the listener closes at once.
            server.begin_shutdown().await;
            let addr = server.addr;
            within("the listener to close", async {
                while tokio::net::TcpStream::connect(addr).await.is_ok() {
                    tokio::task::yield_now().await;
                }
            })
            .await;
            // The idle connection was left open, and answers once more, then closes.
            kept.write_all(request.as_bytes()).await.expect("write");
            let mut answer = Vec::new();
            within(
                "the last answer and the close",
                kept.read_to_end(&mut answer),
            )
            .await
            .expect("an answer, not a reset");
            let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
            assert!(
                answer.starts_with("http/1.1 200 ok\r\n"),
                "{mode} {path}: {answer}"
            );
            assert!(
                answer.contains("\r\nconnection: close\r\n"),
                "{mode} {path}: {answer}"
            );
            // Its last connection gone, the server stops long before its deadlines.
            server.shutdown().await.expect("a clean exit");
        }
    }
}
