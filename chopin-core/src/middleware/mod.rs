//! Chopin's default middleware stack, applied once around the whole router, the same in
//! both server modes.
//!
//! Outermost first:
//!
//! 1. request id: keep the client's `x-request-id` if plausible or generate one, echo
//!    it on the response, add the security headers ([`security_headers`]) and render
//!    every 4xx/5xx in the [`ApiError`] JSON shape, reading a plain-text error body for
//!    at most [`ERROR_BODY_TIMEOUT`] (or the request timeout, if shorter);
//! 2. `Host` validation (`400`; [`host`]), unless the caller checked it: the server does,
//!    before the fast routes, and answers a bad one with [`FixedAnswers`];
//!    then `TRUSTED_PROXIES` put into each request for `ClientIp` and rate limits, only
//!    when set (a clone of a reference count per request);
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
pub(crate) mod catch_panic;
mod host;
pub(crate) mod json_errors;
pub(crate) mod request_id;
mod security_headers;
mod timeout;

use std::{
    convert::Infallible,
    future::Ready,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    BoxError, Extension, Router,
    body::{Body, HttpBody},
    extract::DefaultBodyLimit,
    response::Response,
};
use bytes::Bytes;
use http::{Method, Request, header};
use tower::{Layer, Service, ServiceBuilder};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

use self::{
    body_limit::BodyLimitLayer,
    catch_panic::CatchPanicLayer,
    host::HostLayer,
    request_id::{RequestId, RequestIdLayer},
    timeout::TimeoutLayer,
};
use crate::{
    config::{Config, CorsOrigins},
    routes::Routes,
};

pub use self::json_errors::KeepErrorBody;

/// For the server: a request with a bad `Host` skips the fast routes and gets this
/// stack's `400`.
pub(crate) use self::host::{valid_host, valid_hosts};

/// For the fast lane, which writes them as bytes.
pub(crate) use self::{
    request_id::{X_REQUEST_ID, next_request_id},
    security_headers::Lines,
};

/// axum's own cap on bodies read by extractors (`Bytes`, `Json`, ...).
const AXUM_DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Longest wait for a plain-text error body to be rewritten as JSON: such bodies are a
/// short message a handler has at hand, so one that takes longer is not waited for.
const ERROR_BODY_TIMEOUT: Duration = Duration::from_secs(2);

/// How long an error body may take to arrive before it is rendered without its text.
pub(crate) fn error_body_timeout(config: &Config) -> Duration {
    config
        .request_timeout
        .map_or(ERROR_BODY_TIMEOUT, |t| t.min(ERROR_BODY_TIMEOUT))
}

/// `router` with axum's extractor cap on bodies lifted to the configured limit, so that
/// limit is the one that applies.
pub(crate) fn lift_body_limit(router: Router, config: &Config) -> Router {
    if config.body_limit > AXUM_DEFAULT_BODY_LIMIT {
        router.layer(DefaultBodyLimit::max(config.body_limit))
    } else {
        router
    }
}

/// Where `Host` is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostCheck {
    /// By the stack.
    Here,
    /// By the caller, which answers a request with a bad `Host` with
    /// [`FixedAnswers::bad_host`] instead.
    Done,
}

/// Who writes the request id and the security headers on the response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stamp {
    /// The stack, into the response's header map: hyper writes them.
    Here,
    /// The server, as prebuilt bytes where it writes the head (the fast lane), from the
    /// id it put in the request's `x-request-id`.
    ByServer,
}

/// An error the server answers without the stack, through the request id layer as the
/// stack would: with its request id, security headers and JSON shape.
pub(crate) type FixedAnswer = RequestId<Fixed>;

/// The answers the server gives without the router.
#[derive(Clone, Debug)]
pub(crate) struct FixedAnswers {
    /// To a request with a bad `Host`: `400`.
    pub(crate) bad_host: FixedAnswer,
    /// To a request whose computed fast route panicked: the `500` the stack's panic
    /// guard gives.
    pub(crate) panicked: FixedAnswer,
}

impl FixedAnswers {
    pub(crate) fn new(config: &Config) -> Self {
        let layer = RequestIdLayer::new(error_body_timeout(config), Stamp::Here);
        Self {
            bad_host: layer.layer(Fixed(host::refusal)),
            panicked: layer.layer(Fixed(catch_panic::internal_error)),
        }
    }
}

/// Answers every request with the response its function makes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fixed(fn() -> Response);

impl<B> Service<Request<B>> for Fixed {
    type Response = Response;
    type Error = Infallible;
    type Future = Ready<Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        std::future::ready(Ok((self.0)()))
    }
}

/// `routes` wrapped in the default stack configured by `config`.
///
/// The stack is one concrete service around the routes, not a `Router::layer` per
/// route: cloning it per request copies a few reference counts instead of boxing.
pub(crate) fn wrap(
    routes: Routes,
    config: &Config,
    host: HostCheck,
    stamp: Stamp,
) -> impl Service<Request<Body>, Response = Response, Error = Infallible, Future: Send>
+ Clone
+ Send
+ Sync
+ 'static {
    ServiceBuilder::new()
        .layer(RequestIdLayer::new(error_body_timeout(config), stamp))
        .option_layer((host == HostCheck::Here).then_some(HostLayer))
        .option_layer(
            (!config.trusted_proxies.is_empty()).then(|| Extension(config.trusted_proxies.clone())),
        )
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
        .service(routes)
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
