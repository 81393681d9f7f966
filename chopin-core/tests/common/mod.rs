//! Helpers shared by the socket-level tests.

#![allow(dead_code, unreachable_pub)]

pub mod postgres;

use std::{net::SocketAddr, time::Duration};

use axum::{
    Json, Router,
    body::Bytes,
    routing::{get, post},
};
use chopin_core::{App, Config, FastRoute, ServerMode};
use serde_json::Value;
use tokio::{sync::oneshot, task::JoinHandle};

pub struct Running {
    pub addr: SocketAddr,
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), chopin_core::Error>>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn shutdown(mut self) -> Result<(), chopin_core::Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.expect("server task")
    }
}

/// Port 0 and a private in-memory database.
pub fn config() -> Config {
    let mut config = Config::default();
    config.port = 0;
    config.database_url = "sqlite::memory:".parse().expect("URL");
    config
}

pub fn test_routes() -> Router {
    Router::new()
        .route("/slow", get(slow))
        .route("/panic", get(panics))
        .route(
            "/echo",
            post(|body: Bytes| async move { body.len().to_string() }),
        )
        .route(
            "/items",
            post(|Json(v): Json<Value>| async move { Json(v) }),
        )
}

async fn panics() -> &'static str {
    panic!("secret panic detail")
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(600)).await;
    "done"
}

pub async fn start_app(app: App) -> Running {
    let server = app.bind().await.expect("bind");
    let addr: SocketAddr = server.local_addr();
    assert_ne!(addr.port(), 0, "the bound port is observable");
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));
    Running {
        addr,
        base: format!("http://{addr}"),
        stop: Some(stop),
        task,
    }
}

pub async fn start(config: Config) -> Running {
    start_app(app(config).await).await
}

/// The test application: fast routes plus routes that echo, panic and sleep.
pub async fn app(config: Config) -> App {
    App::with_config(config)
        .await
        .expect("app")
        .router(test_routes())
        .fast_route(FastRoute::json("/json", r#"{"message":"Hello, World!"}"#))
        .fast_route(FastRoute::text("/plaintext", "Hello, World!"))
}

pub fn config_in(mode: ServerMode) -> Config {
    let mut config = config();
    config.mode = mode;
    config.workers = 2;
    config
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}
