//! Chopin's default middleware stack, applied to every route in both server modes.
//!
//! Outermost first:
//!
//! 1. request id: keep the client's `x-request-id` or generate one;
//! 2. JSON errors: every 4xx/5xx in the [`ApiError`](crate::ApiError) shape;
//! 3. request id echoed on the response;
//! 4. tracing span per request (logged at `debug`, so quiet by default);
//! 5. CORS, only when `CORS_ALLOWED_ORIGINS` is set;
//! 6. request timeout (`408`), unless disabled;
//! 7. panic → `500`, the server keeps serving;
//! 8. request body limit (`413`).

mod json_errors;
pub(crate) mod request_id;

use std::any::Any;

use axum::{Router, extract::DefaultBodyLimit, response::IntoResponse};
use http::{Method, Request, StatusCode, header};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, CorsLayer},
    limit::RequestBodyLimitLayer,
    request_id::{PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer},
};
use tracing::Level;

use self::{
    json_errors::JsonErrorsLayer,
    request_id::{ThreadRequestId, X_REQUEST_ID},
};
use crate::{
    api_error::ApiError,
    config::{Config, CorsOrigins},
};

/// Wraps `router` in the default stack configured by `config`.
pub(crate) fn apply(router: Router, config: &Config) -> Router {
    let stack = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, ThreadRequestId))
        .layer(JsonErrorsLayer)
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
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
                .on_failure(DefaultOnFailure::new().level(Level::ERROR)),
        )
        .option_layer(cors(&config.cors_origins))
        .option_layer(
            config
                .request_timeout
                .map(|t| TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, t)),
        )
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(RequestBodyLimitLayer::new(config.body_limit))
        // The limit above covers every body; axum's own 2 MiB default would cap it lower.
        .layer(DefaultBodyLimit::disable());
    router.layer(stack)
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
