//! Chopin's default middleware stack, applied once around the whole router, the same in
//! both server modes.
//!
//! Outermost first:
//!
//! 1. request id: keep the client's `x-request-id` if plausible or generate one, echo
//!    it on the response, add the security headers ([`security_headers`]) and render
//!    every 4xx/5xx in the [`ApiError`] JSON shape, reading a plain-text error body for
//!    at most [`ERROR_BODY_TIMEOUT`] (or the request timeout, if shorter);
//! 2. `Host` validation (`400`; [`host`]);
//! 3. request tracing (`tower_http::trace`) at `debug`, present only when `RUST_LOG`
//!    enables `debug` at startup: at the default level it would log nothing and cost
//!    a boxed body and two clock reads per request;
//! 4. CORS, only when `CORS_ALLOWED_ORIGINS` is set;
//! 5. request timeout (`503` with `Retry-After`), unless disabled ([`timeout`]: no timer
//!    until a request waits);
//! 6. panic → `500`, the server keeps serving ([`catch_panic`]);
//! 7. request body limit (`413`; [`body_limit`]: only bodies of unknown length are
//!    wrapped).

mod body_limit;
mod catch_panic;
mod host;
mod json_errors;
pub(crate) mod request_id;
mod security_headers;
mod timeout;

use std::{convert::Infallible, time::Duration};

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
    host::HostLayer,
    request_id::{RequestIdLayer, X_REQUEST_ID},
    timeout::TimeoutLayer,
};
use crate::config::{Config, CorsOrigins};

pub use self::json_errors::KeepErrorBody;

/// For the server: a request with a bad `Host` skips the fast routes and gets this
/// stack's `400`.
pub(crate) use self::host::{valid_host, valid_hosts};

/// axum's own cap on bodies read by extractors (`Bytes`, `Json`, ...).
const AXUM_DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Longest wait for a plain-text error body to be rewritten as JSON: such bodies are a
/// short message a handler has at hand, so one that takes longer is not waited for.
const ERROR_BODY_TIMEOUT: Duration = Duration::from_secs(2);

/// `router` with error bodies put in the JSON shape as soon as it answers, for an
/// application that wraps it in layers of its own ([`crate::App::layer`]): those layers
/// then see, and may compress, the final body.
pub(crate) fn json_errors_inside(router: Router, config: &Config) -> Router {
    json_errors::inside(router, error_body_timeout(config))
}

fn error_body_timeout(config: &Config) -> Duration {
    config
        .request_timeout
        .map_or(ERROR_BODY_TIMEOUT, |t| t.min(ERROR_BODY_TIMEOUT))
}

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
        .layer(RequestIdLayer::new(error_body_timeout(config)))
        .layer(HostLayer)
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
