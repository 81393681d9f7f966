//! Fast routes and Axum routes from one codebase, in standard or performance mode.
//!
//! Run with: `cargo run -p chopin-performance-mode`
//! (`SERVER_MODE=performance cargo run -p chopin-performance-mode --release` for speed).

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use axum::{Json, extract::Query};
use chopin_core::{App, FastRequest, FastResponse, FastRoute};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

#[tokio::main]
async fn main() -> Result<(), chopin_core::Error> {
    let visits = Arc::new(AtomicU64::new(0));
    let server = App::new()
        .await?
        .fast_route(FastRoute::json("/json", r#"{"message":"Hello, World!"}"#))
        .fast_route(FastRoute::text("/plaintext", "Hello, World!"))
        // Computed per request, still without the router: a counter serialised as JSON.
        .fast_route(FastRoute::computed(
            "/counter",
            move |_: &FastRequest<'_>, response: &mut FastResponse<'_>| {
                let count = visits.fetch_add(1, Ordering::Relaxed) + 1;
                response.json(&Visits { visits: count });
            },
        ))
        // A router route that documents itself in /api-docs.
        .api_router(OpenApiRouter::new().routes(routes!(hello)))
        .bind()
        .await?;

    let addr = server.local_addr();
    println!("🎹 Chopin Performance Mode Example");
    println!("   → Mode: {}", server.mode());
    println!("   → Server: http://{addr}");
    println!("   → API docs: http://{addr}/api-docs");

    server.run().await
}

#[derive(Serialize)]
struct Visits {
    visits: u64,
}

#[derive(Deserialize, IntoParams)]
struct HelloQuery {
    /// Whom to greet; "World" when absent.
    name: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct Greeting {
    #[schema(example = "Hello, Ada!")]
    message: String,
}

/// A greeting, through the router and its middleware.
#[utoipa::path(
    get,
    path = "/api/hello",
    tag = "example",
    params(HelloQuery),
    responses(
        (status = 200, description = "The greeting", body = Greeting),
        (status = 400, description = "Malformed query string", body = chopin_core::ApiError),
    )
)]
async fn hello(Query(query): Query<HelloQuery>) -> Json<Greeting> {
    let name = query.name.as_deref().unwrap_or("World");
    Json(Greeting {
        message: format!("Hello, {name}!"),
    })
}
