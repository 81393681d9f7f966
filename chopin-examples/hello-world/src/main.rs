//! The smallest Chopin app: one route of yours, plus what every app has (sign-up and
//! login under `/api/auth`, API docs at `/api-docs`, the JSON error shape, the default
//! middleware). Run with `cargo run -p chopin-hello-world`; configured like any Chopin
//! app by `SERVER_PORT`, `DATABASE_URL`, `SERVER_MODE`, ... or `.env`.

use chopin_core::{
    App,
    axum::{Router, routing::get},
};

#[tokio::main]
async fn main() -> Result<(), chopin_core::Error> {
    let server = App::new()
        .await?
        .router(Router::new().route("/hello", get(|| async { "Hello, World!" })))
        .bind()
        .await?;
    println!("Hello World on http://{}", server.local_addr());
    server.run().await
}
