//! Benchmark baseline: `axum::serve` as its documentation shows it, no middleware.
//! Answers `GET /` with `Hello, World!`.
//!
//! Run with: `PORT=3002 cargo run -p bench-axum --release`

use axum::{Router, routing::get};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3002);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let app = Router::new().route("/", get(|| async { "Hello, World!" }));
    axum::serve(listener, app).await
}
