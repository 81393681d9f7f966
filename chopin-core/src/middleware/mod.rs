//! Chopin's default middleware stack, applied once around the whole router, the same in
//! both server modes.
//!
//! Outermost first:
//!
//! 1. request id: keep the client's `x-request-id` or generate one, echo it on the
//!    response, and render every 4xx/5xx in the [`ApiError`] JSON shape;
//! 2. request tracing (`tower_http::trace`) at `debug`, present only when `RUST_LOG`
//!    enables `debug` at startup: at the default level it would log nothing and cost
//!    a boxed body and two clock reads per request;
//! 3. CORS, only when `CORS_ALLOWED_ORIGINS` is set;
//! 4. request timeout (`408`), unless disabled ([`timeout`]: no timer until a request
//!    waits);
//! 5. panic → `500`, the server keeps serving ([`catch_panic`]);
//! 6. request body limit (`413`; [`body_limit`]: only bodies of unknown length are
//!    wrapped).

mod body_limit;
mod catch_panic;
mod json_errors;
pub(crate) mod request_id;
mod timeout;

use std::convert::Infallible;

use axum::{
    BoxError, Router,
    body::{Body, HttpBody},
    extract::DefaultBodyLimit,
    response::Response,
};
use bytes::Bytes;
use http::{Method, Request, header};
use tower::{Service, ServiceBuilder};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

use self::{
    body_limit::BodyLimitLayer,
    catch_panic::CatchPanicLayer,
    request_id::{RequestIdLayer, X_REQUEST_ID},
    timeout::TimeoutLayer,
};
use crate::config::{Config, CorsOrigins};

/// axum's own cap on bodies read by extractors (`Bytes`, `Json`, ...).
const AXUM_DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// `router` wrapped in the default stack configured by `config`.
///
/// The stack is one concrete service around the router, not a `Router::layer` per
/// route: cloning it per request copies a few reference counts instead of boxing.
pub(crate) fn wrap(
    mut router: Router,
    config: &Config,
) -> impl Service<Request<Body>, Response = Response, Error = Infallible, Future: Send>
+ Clone
+ Send
+ Sync
+ 'static {
    if config.body_limit > AXUM_DEFAULT_BODY_LIMIT {
        // Lift axum's extractor cap so the configured limit is the one that applies.
        router = router.layer(DefaultBodyLimit::max(config.body_limit));
    }
    ServiceBuilder::new()
        .layer(RequestIdLayer)
        .option_layer(tracing_enabled().then(|| {
            let trace = TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    tracing::debug_span!(
                        "request",
                        method = %request.method(),
                        uri = %request.uri(),
                        request_id = request
                            .headers()
                            .get(X_REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default(),
                    )
                })
                .on_response(DefaultOnResponse::new().level(Level::DEBUG))
                // 5xx are logged by the request id layer, at any level.
                .on_failure(());
            // Both arms of the optional layer must answer the same body type.
            ServiceBuilder::new()
                .map_response(boxed_body)
                .layer(trace)
                .into_inner()
        }))
        .option_layer(cors(&config.cors_origins))
        .option_layer(config.request_timeout.map(TimeoutLayer::new))
        .layer(CatchPanicLayer)
        .layer(BodyLimitLayer::new(config.body_limit))
        .service(router)
}

fn boxed_body<B>(response: http::Response<B>) -> Response
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    response.map(Body::new)
}

fn tracing_enabled() -> bool {
    tracing::enabled!(Level::DEBUG) || tracing::enabled!(target: "tower_http::trace", Level::DEBUG)
}

fn cors(origins: &CorsOrigins) -> Option<CorsLayer> {
    let allow_origin = match origins {
        CorsOrigins::None => return None,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(list.iter().cloned()),
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, X_REQUEST_ID])
            .expose_headers([X_REQUEST_ID]),
    )
}
