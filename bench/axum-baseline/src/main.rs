//! Benchmark baseline: `axum::serve` as its documentation shows it, no middleware.
//! Answers `GET /` with `Hello, World!`.
//!
//! By default Nagle's algorithm stays on, as `axum::serve` leaves it. With `NODELAY=1`
//! every accepted connection gets `TCP_NODELAY`, through `ListenerExt::tap_io` as axum's
//! documentation shows it.
//!
//! Run with: `PORT=3002 cargo run -p bench-axum --release`

use axum::{Router, routing::get, serve::ListenerExt};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3002);
    let nodelay = std::env::var("NODELAY").is_ok_and(|v| v == "1");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let app = Router::new().route("/", get(|| async { "Hello, World!" }));
    if nodelay {
        let listener = listener.tap_io(|tcp| {
            // Fails only on a connection already gone, which the server then drops.
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await
    } else {
        axum::serve(listener, app).await
    }
}
