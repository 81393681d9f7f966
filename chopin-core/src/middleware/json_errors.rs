//! Renders every error response Chopin's stack produces in the [`ApiError`] JSON shape.
//!
//! axum's rejections, its 405, tower-http's 413 and 408 answer in plain text or with an
//! empty body. Rather than re-implement each, this layer rewrites any 4xx/5xx response
//! whose body is plain text or untyped, keeping status and headers (`Allow`, CORS), and
//! adds the request id to [`ApiError`] bodies. Responses with any other content type
//! (JSON, HTML, ...) are left untouched.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use axum::{
    BoxError,
    body::{Body, HttpBody},
    response::Response,
};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, header};
use http_body_util::BodyExt;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::request_id::X_REQUEST_ID;
use crate::api_error::ApiError;

/// Longest plain-text body kept as the error message, in bytes.
const MAX_MESSAGE_LEN: usize = 1024;

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct JsonErrorsLayer;

impl<S> Layer<S> for JsonErrorsLayer {
    type Service = JsonErrors<S>;

    fn layer(&self, inner: S) -> JsonErrors<S> {
        JsonErrors { inner }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct JsonErrors<S> {
    inner: S,
}

impl<S, B, ResBody> Service<Request<B>> for JsonErrors<S>
where
    S: Service<Request<B>, Response = http::Response<ResBody>>,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = JsonErrorsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        JsonErrorsFuture {
            state: State::Inner {
                future: self.inner.call(request),
            },
        }
    }
}

type Rewrite = Pin<Box<dyn Future<Output = Response> + Send>>;

pin_project! {
    pub(crate) struct JsonErrorsFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Inner { #[pin] future: F },
        // Boxed only on the error path, where reading a text body needs an await.
        Rewriting { future: Rewrite },
    }
}

impl<F, E, ResBody> Future for JsonErrorsFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Inner { future } => {
                    let response = ready!(future.poll(cx))?.map(Body::new);
                    match classify(response) {
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

enum Outcome {
    Done(Response),
    Rewrite(Rewrite),
}

fn classify(mut response: Response) -> Outcome {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Outcome::Done(response);
    }
    if let Some(error) = response.extensions_mut().remove::<ApiError>() {
        return Outcome::Done(render(response, &error));
    }
    if !is_plain_text(response.headers()) {
        return Outcome::Done(response);
    }
    Outcome::Rewrite(Box::pin(async move {
        let (parts, body) = response.into_parts();
        let text = match http_body_util::Limited::new(body, MAX_MESSAGE_LEN)
            .collect()
            .await
        {
            Ok(collected) => String::from_utf8_lossy(&collected.to_bytes())
                .trim()
                .to_owned(),
            Err(_) => String::new(),
        };
        let message = if text.is_empty() {
            status
                .canonical_reason()
                .unwrap_or("error")
                .to_ascii_lowercase()
        } else {
            text
        };
        render(
            Response::from_parts(parts, Body::empty()),
            &ApiError::from_status(status, message),
        )
    }))
}

fn is_plain_text(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE) {
        None => true,
        Some(value) => value.as_bytes().starts_with(b"text/plain"),
    }
}

fn request_id(headers: &HeaderMap) -> Option<&str> {
    headers.get(X_REQUEST_ID).and_then(|v| v.to_str().ok())
}

/// Keeps the original status and headers, swapping in the JSON body.
fn render(response: Response, error: &ApiError) -> Response {
    let (mut parts, _) = response.into_parts();
    let body = error.to_json(request_id(&parts.headers));
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}
