//! Request timeout that costs nothing for requests answered without waiting.
//!
//! A handler that runs out of time is answered `503 Service Unavailable` with
//! `Retry-After` set to the timeout in whole seconds (at least 1), so a client that
//! retries does not stack a second slow request on the first. Not `408 Request Timeout`:
//! browsers and HTTP clients resend a request answered `408` on a reused connection on
//! their own, a `POST` included, so a slow signup could run twice.
//!
//! tower-http's `TimeoutLayer` registers a tokio timer for every request: about 930
//! instructions per request on `/` (`bench/callgrind.sh`), most of it for requests that
//! answer on their first poll and so can never time out. This layer notes when the
//! request started and creates the timer only the first time the handler has to wait;
//! the deadline is the same.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

use crate::api_error::ApiError;

#[derive(Clone, Copy, Debug)]
pub(crate) struct TimeoutLayer {
    timeout: Duration,
    /// `Retry-After`, in seconds.
    retry_after: u64,
}

impl TimeoutLayer {
    pub(crate) fn new(timeout: Duration) -> Self {
        let seconds = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
        Self {
            timeout,
            retry_after: seconds.max(1),
        }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout {
            inner,
            timeout: self.timeout,
            retry_after: self.retry_after,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Timeout<S> {
    inner: S,
    timeout: Duration,
    retry_after: u64,
}

impl<S, R> Service<R> for Timeout<S>
where
    S: Service<R, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        TimeoutFuture {
            inner: self.inner.call(request),
            sleep: None,
            deadline: Instant::now() + self.timeout,
            retry_after: self.retry_after,
        }
    }
}

pin_project! {
    pub(crate) struct TimeoutFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Option<Sleep>,
        deadline: Instant,
        retry_after: u64,
    }
}

impl<F, E> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(result) = this.inner.poll(cx) {
            return Poll::Ready(result);
        }
        if this.sleep.is_none() {
            this.sleep
                .set(Some(tokio::time::sleep_until(*this.deadline)));
        }
        if let Some(sleep) = this.sleep.as_pin_mut() {
            ready!(sleep.poll(cx));
        }
        let mut response = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "request_timeout",
            "the request took longer than the server allows",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(*this.retry_after));
        Poll::Ready(Ok(response))
    }
}
