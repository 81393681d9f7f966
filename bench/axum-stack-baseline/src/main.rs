//! Benchmark baseline: `axum::serve` with `TCP_NODELAY` and the tower-http layers a
//! careful axum user adds to get what Chopin gives by default. Answers `GET /` with
//! `Hello, World!`.
//!
//! Outermost first, as Chopin orders its own stack: request id (generated as a UUID,
//! echoed on the response), the six security headers Chopin sets (a handler's own value
//! kept), request tracing, CORS with no allowed origin, a 30 s request timeout (`503`), a
//! panic → `500` guard and a 2 MiB request body limit (`413`), all with Chopin's default
//! values. The layers go on the router with `Router::layer`, as axum's documentation
//! shows; they wrap the fallback too, so a `404` gets the same headers.
//!
//! `TCP_NODELAY` is always set, through `ListenerExt::tap_io` as in `bench-axum`.
//!
//! Run with: `PORT=3004 cargo run -p bench-axum-stack --release`

use std::time::Duration;

use axum::{
    Router,
    http::{HeaderName, HeaderValue, StatusCode, header},
    routing::get,
    serve::ListenerExt,
};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::CorsLayer,
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

/// Chopin's defaults for `REQUEST_TIMEOUT_SECS` and `REQUEST_BODY_LIMIT`.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The `Content-Security-Policy` Chopin sends on every path but `/api-docs`.
const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

fn security_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3004);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await?
        .tap_io(|tcp| {
            // Fails only on a connection already gone, which the server then drops.
            let _ = tcp.set_nodelay(true);
        });
    let stack = ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(security_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(security_header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(security_header(header::REFERRER_POLICY, "no-referrer"))
        .layer(security_header(header::CONTENT_SECURITY_POLICY, API_POLICY))
        .layer(security_header(
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ))
        .layer(security_header(
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ))
        // No subscriber is installed (as in `bench-axum`), so the spans and events cost
        // only their creation: the price of leaving the layer in, which users do. Chopin
        // drops it unless `RUST_LOG` enables `debug`.
        .layer(TraceLayer::new_for_http())
        // Closed: no origin allowed, so browsers refuse cross-origin reads. Chopin adds no
        // CORS layer at all until `CORS_ALLOWED_ORIGINS` is set.
        .layer(CorsLayer::new())
        // `503` as Chopin answers; `TimeoutLayer::new` (`408`) is deprecated.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(CatchPanicLayer::new())
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT));
    let app = Router::new()
        .route("/", get(|| async { "Hello, World!" }))
        .layer(stack);
    axum::serve(listener, app).await
}
