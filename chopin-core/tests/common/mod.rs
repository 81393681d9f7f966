//! Helpers shared by the socket-level tests.

#![allow(dead_code, unreachable_pub)]

pub mod postgres;
pub mod raw;

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use axum::{
    Extension, Json, Router,
    body::Bytes,
    routing::{get, post},
};
use chopin_core::{App, Config, FastRequest, FastResponse, FastRoute, ServerMode};
use http::{HeaderValue, StatusCode};
use serde_json::Value;
use tokio::{
    sync::{Notify, oneshot, watch},
    task::JoinHandle,
};

/// How long any wait for a server event may take before the test fails.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// `future`'s output, or a test failure naming `what` if it takes longer than
/// [`EVENT_TIMEOUT`].
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(EVENT_TIMEOUT, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {EVENT_TIMEOUT:?} waiting for {what}"))
}

pub struct Running {
    pub addr: SocketAddr,
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    /// Notified once the server has seen its shutdown signal.
    stopping: Arc<Notify>,
    task: JoinHandle<Result<(), chopin_core::Error>>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Signals shutdown and returns once the server has taken the signal, while it
    /// drains.
    pub async fn begin_shutdown(&mut self) {
        let stop = self.stop.take().expect("shutdown begins once");
        let _ = stop.send(());
        within(
            "the server to see its shutdown signal",
            self.stopping.notified(),
        )
        .await;
    }

    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    pub async fn shutdown(mut self) -> Result<(), chopin_core::Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        within("the server to shut down", self.task)
            .await
            .expect("server task")
    }
}

/// Holds every `/slow` request until opened, and tells the test when one has started:
/// "a request is in flight" is an event, not a guess about timing.
#[derive(Clone)]
pub struct Gate(Arc<GateInner>);

struct GateInner {
    started: Notify,
    open: watch::Sender<bool>,
}

impl Default for Gate {
    fn default() -> Self {
        Self(Arc::new(GateInner {
            started: Notify::new(),
            open: watch::Sender::new(false),
        }))
    }
}

impl Gate {
    /// Returns once a `/slow` handler is running.
    pub async fn started(&self) {
        within(
            "a /slow request to reach its handler",
            self.0.started.notified(),
        )
        .await;
    }

    /// Lets every held `/slow` request, and every later one, answer.
    pub fn open(&self) {
        self.0.open.send_replace(true);
    }
}

/// Port 0 and a private in-memory database.
pub fn config() -> Config {
    let mut config = Config::default();
    config.port = 0;
    config.database_url = "sqlite::memory:".parse().expect("URL");
    // Tests sign up and sign in far more often than people do; `accounts.rs` tests the
    // limit at its default.
    config.auth_rate_limit = 1_000_000;
    config
}

/// The test routes, with `/slow` held by a gate nobody opens.
pub fn test_routes() -> Router {
    test_routes_with(Gate::default())
}

pub fn test_routes_with(gate: Gate) -> Router {
    Router::new()
        .route("/slow", get(slow))
        .route(
            "/thread",
            get(|| async { std::thread::current().name().unwrap_or("").to_owned() }),
        )
        .route("/panic", get(panics))
        .route(
            "/echo",
            post(|body: Bytes| async move { body.len().to_string() }),
        )
        .route(
            "/items",
            post(|Json(v): Json<Value>| async move { Json(v) }),
        )
        .layer(Extension(gate))
}

async fn panics() -> &'static str {
    panic!("secret panic detail")
}

async fn slow(Extension(gate): Extension<Gate>) -> &'static str {
    let mut open = gate.0.open.subscribe();
    gate.0.started.notify_one();
    let _ = open.wait_for(|open| *open).await;
    "done"
}

pub async fn start_app(app: App) -> Running {
    let server = app.bind().await.expect("bind");
    let addr: SocketAddr = server.local_addr();
    assert_ne!(addr.port(), 0, "the bound port is observable");
    let (stop, stopped) = oneshot::channel();
    let stopping = Arc::new(Notify::new());
    let seen = Arc::clone(&stopping);
    let task = tokio::spawn(server.serve(async move {
        let _ = stopped.await;
        seen.notify_one();
    }));
    Running {
        addr,
        base: format!("http://{addr}"),
        stop: Some(stop),
        stopping,
        task,
    }
}

pub async fn start(config: Config) -> Running {
    start_app(app(config).await).await
}

/// The test application: fast routes plus routes that echo, panic, name their thread
/// and wait (on a gate nobody opens).
pub async fn app(config: Config) -> App {
    app_with(config, Gate::default()).await
}

/// [`app`] with `/slow` held by `gate`.
pub async fn app_with(config: Config, gate: Gate) -> App {
    App::with_config(config)
        .await
        .expect("app")
        .router(test_routes_with(gate))
        .fast_route(FastRoute::json("/json", r#"{"message":"Hello, World!"}"#))
        .fast_route(FastRoute::text("/plaintext", "Hello, World!"))
        .fast_route(FastRoute::computed("/computed", computed))
}

/// A computed fast route whose answer depends on the request: `?status=N` sets the
/// status, `?text` answers plain text, `?panic` panics after writing part of a body,
/// and the body echoes the path, query and `x-probe` header.
fn computed(request: &FastRequest<'_>, response: &mut FastResponse<'_>) {
    let query = request.query().unwrap_or_default();
    if query == "panic" {
        response.body().extend_from_slice(b"half an answer");
        panic!("secret computed panic detail");
    }
    for pair in query.split('&') {
        if let Some(Ok(code)) = pair.strip_prefix("status=").map(str::parse::<u16>) {
            response.set_status(StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT));
        }
    }
    let probe = request
        .header("x-probe")
        .map(|v| String::from_utf8_lossy(v).into_owned());
    if query.split('&').any(|pair| pair == "text") {
        response.set_content_type(HeaderValue::from_static("text/plain; charset=utf-8"));
        response.body().extend_from_slice(b"plain ");
        response.body().extend_from_slice(request.path().as_bytes());
    } else {
        response.json(&serde_json::json!({
            "method": request.method(),
            "path": request.path(),
            "query": request.query(),
            "probe": probe,
        }));
    }
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

/// The binary of chopin-core's example `name`. A whole `cargo test` builds it; a test
/// run alone uses the last one built (`cargo build -p chopin-core --example NAME`).
pub fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let target = deps.parent().unwrap().parent().unwrap();
    let binary = target.join("examples").join(name);
    assert!(
        binary.exists(),
        "{} is built by cargo test",
        binary.display()
    );
    binary
}
