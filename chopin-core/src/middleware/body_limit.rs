//! Request body limit (`413`) that leaves bodies of known length alone.
//!
//! tower-http's `RequestBodyLimitLayer` wraps every request body, bodiless `GET`s
//! included, and every response body: about 550 instructions per request on `/`
//! (`bench/callgrind.sh`). Here a body whose length hyper already knows (from
//! `Content-Length`, which hyper enforces, or because there is none) is checked once
//! and passed on; only a body of unknown length (chunked) is wrapped in
//! [`http_body_util::Limited`], whose error axum's extractors answer with `413`.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use axum::{
    BoxError,
    body::{Body, HttpBody},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Limited;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::api_error::ApiError;

#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyLimitLayer {
    limit: usize,
}

impl BodyLimitLayer {
    pub(crate) fn new(limit: usize) -> Self {
        Self { limit }
    }
}

impl<S> Layer<S> for BodyLimitLayer {
    type Service = BodyLimit<S>;

    fn layer(&self, inner: S) -> BodyLimit<S> {
        BodyLimit {
            inner,
            limit: self.limit,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct BodyLimit<S> {
    inner: S,
    limit: usize,
}

impl<S, B> Service<Request<B>> for BodyLimit<S>
where
    S: Service<Request<Body>, Response = Response>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BodyLimitFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let limit = self.limit;
        let request = match request.body().size_hint().exact() {
            Some(length) if length > limit as u64 => {
                return BodyLimitFuture::TooLarge {
                    response: Some(
                        ApiError::from_status(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "length limit exceeded",
                        )
                        .into_response(),
                    ),
                };
            }
            Some(_) => request.map(Body::new),
            None => request.map(|body| Body::new(Limited::new(body, limit))),
        };
        BodyLimitFuture::Inner {
            future: self.inner.call(request),
        }
    }
}

pin_project! {
    #[project = BodyLimitProj]
    pub(crate) enum BodyLimitFuture<F> {
        Inner { #[pin] future: F },
        TooLarge { response: Option<Response> },
    }
}

impl<F, E> Future for BodyLimitFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            BodyLimitProj::Inner { future } => future.poll(cx),
            // Polled once: a future is not polled after it completes.
            BodyLimitProj::TooLarge { response } => {
                Poll::Ready(Ok(response.take().unwrap_or_default()))
            }
        }
    }
}
