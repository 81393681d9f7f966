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
//! 4. request timeout (`408`), unless disabled;
//! 5. panic → `500`, the server keeps serving;
//! 6. request body limit (`413`).

mod json_errors;
pub(crate) mod request_id;

use std::{any::Any, convert::Infallible};

use axum::{
    BoxError, Router,
    body::{Body, HttpBody},
    extract::DefaultBodyLimit,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use tower::{Service, ServiceBuilder};
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, CorsLayer},
    limit::RequestBodyLimitLayer,
    timeout::TimeoutLayer,
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

use self::request_id::{RequestIdLayer, X_REQUEST_ID};
use crate::{
    api_error::ApiError,
    config::{Config, CorsOrigins},
};

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
        // One body type below, so the optional trace layer's two arms agree.
        .map_response(boxed_body)
        .option_layer(cors(&config.cors_origins))
        .option_layer(
            config
                .request_timeout
                .map(|t| TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, t)),
        )
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(RequestBodyLimitLayer::new(config.body_limit))
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

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> axum::response::Response {
    let detail = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload");
    tracing::error!(panic = detail, "handler panicked");
    ApiError::internal().into_response()
}
