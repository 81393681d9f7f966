//! Renders every error response in the [`ApiError`] JSON shape.
//!
//! axum's rejections and its 405 answer in plain text or with an empty body. Rather than
//! re-implement each, any 4xx/5xx response whose body is plain text or untyped is
//! rewritten, keeping status and headers (`Allow`, CORS), and [`ApiError`] bodies get
//! the request id. Responses with any other content type (JSON, HTML, ...) are left
//! untouched, and so is any response marked with [`KeepErrorBody`].
//!
//! The text becomes the message only if it arrives whole within [`MAX_MESSAGE_LEN`]
//! bytes and the error body timeout; otherwise the message is the status's reason
//! ("not found"). The client is answered in either case: an error body that never ends
//! costs at most the timeout and a kilobyte.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::{
    body::{Body, HttpBody},
    extract::Request,
    response::{IntoResponseParts, Response, ResponseParts},
};
use http::{HeaderMap, HeaderValue, header};
use http_body_util::BodyExt;
use pin_project_lite::pin_project;
use tower::{Layer, Service, util::MapResponse};

use super::X_REQUEST_ID;
use crate::api_error::ApiError;

/// Longest plain-text body kept as the error message, in bytes.
const MAX_MESSAGE_LEN: usize = 1024;

/// Reading a text body needs an await; boxed because it happens on the error path only.
type Rewrite = Pin<Box<dyn Future<Output = Response> + Send>>;

enum Outcome {
    Done(Response),
    Rewrite(Rewrite),
}

/// Keeps an error response's body as the handler wrote it: Chopin rewrites plain-text
/// 4xx/5xx bodies into the [`ApiError`] JSON shape unless the response carries this
/// marker. Put it in a handler's answer, or layer a router with it so that every answer
/// of its routes keeps its own format (plain text, `application/problem+json`, a page).
/// The request id and security headers are still added.
///
/// ```
/// use axum::{Router, http::StatusCode, routing::get};
/// use chopin_core::KeepErrorBody;
///
/// // One answer:
/// async fn teapot() -> (StatusCode, KeepErrorBody, &'static str) {
///     (StatusCode::IM_A_TEAPOT, KeepErrorBody, "short and stout")
/// }
///
/// // Every answer of a router:
/// let legacy: Router = Router::new()
///     .route("/legacy", get(|| async { (StatusCode::BAD_REQUEST, "plain text, as before") }))
///     .layer(KeepErrorBody);
/// # let _ = (teapot, legacy);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct KeepErrorBody;

impl IntoResponseParts for KeepErrorBody {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.extensions_mut().insert(self);
        Ok(res)
    }
}

impl<S> Layer<S> for KeepErrorBody {
    type Service = MapResponse<S, fn(Response) -> Response>;

    fn layer(&self, inner: S) -> Self::Service {
        MapResponse::new(inner, mark)
    }
}

fn mark(mut response: Response) -> Response {
    response.extensions_mut().insert(KeepErrorBody);
    response
}

/// Decides what `response` (already carrying its `x-request-id`) needs; a plain-text
/// body is read for at most `timeout`.
fn classify(mut response: Response, request_id: &HeaderValue, timeout: Duration) -> Outcome {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Outcome::Done(response);
    }
    if let Some(error) = response.extensions_mut().remove::<ApiError>() {
        return Outcome::Done(render(response, &error, request_id));
    }
    if !is_plain_text(response.headers()) || response.extensions().get::<KeepErrorBody>().is_some()
    {
        return Outcome::Done(response);
    }
    let (parts, body) = response.into_parts();
    if body.size_hint().lower() > MAX_MESSAGE_LEN as u64 {
        // Known to be over the bound: not worth reading.
        return Outcome::Done(render(
            Response::from_parts(parts, Body::empty()),
            &ApiError::from_status(status, generic_message(status)),
            request_id,
        ));
    }
    let request_id = request_id.clone();
    Outcome::Rewrite(Box::pin(async move {
        let read = http_body_util::Limited::new(body, MAX_MESSAGE_LEN).collect();
        let text = match tokio::time::timeout(timeout, read).await {
            Ok(Ok(collected)) => String::from_utf8_lossy(&collected.to_bytes())
                .trim()
                .to_owned(),
            // Too long, too slow or broken: the status says enough.
            Ok(Err(_)) | Err(_) => String::new(),
        };
        let message = if text.is_empty() {
            generic_message(status)
        } else {
            text
        };
        render(
            Response::from_parts(parts, Body::empty()),
            &ApiError::from_status(status, message),
            &request_id,
        )
    }))
}

/// The status's reason, lower case: `not found`.
fn generic_message(status: http::StatusCode) -> String {
    status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase()
}

fn is_plain_text(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE) {
        None => true,
        Some(value) => value.as_bytes().starts_with(b"text/plain"),
    }
}

/// Keeps the original status and headers, swapping in the JSON body.
fn render(response: Response, error: &ApiError, request_id: &HeaderValue) -> Response {
    let (mut parts, _) = response.into_parts();
    let body = error.to_json(request_id.to_str().ok());
    parts.headers.remove(header::CONTENT_LENGTH);
    // The new body is not encoded, whatever the old one was.
    parts.headers.remove(header::CONTENT_ENCODING);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

/// [`classify`] run as a response is produced, for a router wrapped in layers of the
/// application's own ([`crate::App::layer`]): a layer that transforms bodies
/// (compression) then sees the JSON error, not the text it replaces. The request id
/// comes from the request, where the request id layer put it.
#[derive(Clone, Debug)]
pub(crate) struct RenderErrors<S> {
    inner: S,
    timeout: Duration,
}

impl<S> RenderErrors<S> {
    pub(crate) fn new(inner: S, timeout: Duration) -> Self {
        Self { inner, timeout }
    }
}

impl<S> Service<Request> for RenderErrors<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = RenderErrorsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let id = request.headers().get(X_REQUEST_ID).cloned();
        RenderErrorsFuture::new(self.inner.call(request), id, self.timeout)
    }
}

pin_project! {
    /// `future`'s response with its error body rendered ([`classify`]): the response
    /// future of [`RenderErrors`] and of the request id layer.
    pub(crate) struct RenderErrorsFuture<F> {
        #[pin]
        state: State<F>,
        timeout: Duration,
    }
}

impl<F> RenderErrorsFuture<F> {
    pub(super) fn new(future: F, id: Option<HeaderValue>, timeout: Duration) -> Self {
        Self {
            state: State::Inner { future, id },
            timeout,
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Inner { #[pin] future: F, id: Option<HeaderValue> },
        Rewriting { future: Rewrite },
    }
}

impl<F, E> Future for RenderErrorsFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Inner { future, id } => {
                    let response = ready!(future.poll(cx))?;
                    // Never without one behind the request id layer.
                    let Some(id) = id.take() else {
                        return Poll::Ready(Ok(response));
                    };
                    match classify(response, &id, *this.timeout) {
                        Outcome::Done(response) => return Poll::Ready(Ok(response)),
                        Outcome::Rewrite(future) => this.state.set(State::Rewriting { future }),
                    }
                }
                StateProj::Rewriting { future } => {
                    return Poll::Ready(Ok(ready!(future.as_mut().poll(cx))));
                }
            }
        }
    }
}
