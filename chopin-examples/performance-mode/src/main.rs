//! Fast routes and Axum routes from one codebase, in standard or performance mode.
//!
//! Run with: `cargo run -p chopin-performance-mode`
//! (`SERVER_MODE=performance cargo run -p chopin-performance-mode --release` for speed).

use chopin_core::{App, FastRoute};

#[tokio::main]
async fn main() -> Result<(), chopin_core::Error> {
    let server = App::new()
        .await?
        .fast_route(FastRoute::json("/json", r#"{"message":"Hello, World!"}"#))
        .fast_route(FastRoute::text("/plaintext", "Hello, World!"))
        .bind()
        .await?;

    let addr = server.local_addr();
    println!("🎹 Chopin Performance Mode Example");
    println!("   → Mode: {}", server.mode());
    println!("   → Server: http://{addr}");
    println!("   → API docs: http://{addr}/api-docs");

    server.run().await
}
