//! Run with `cargo run -p chopin-basic-api` (configured from the environment and `.env`
//! like any Chopin app: `DATABASE_URL`, `SERVER_MODE`, `JWT_SECRET`, ...).

use chopin_core::App;

#[tokio::main]
async fn main() -> Result<(), chopin_core::Error> {
    let server = chopin_basic_api::build(App::new().await?)
        .await?
        .bind()
        .await?;

    let addr = server.local_addr();
    println!("🎹 Chopin Basic API Example");
    println!("   → Mode: {}", server.mode());
    println!("   → Server: http://{addr}");
    println!("   → API docs: http://{addr}/api-docs");

    server.run().await
}
