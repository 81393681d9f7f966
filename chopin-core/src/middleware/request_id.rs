//! The outermost layer: every request gets an id, every response carries it, every
//! error response is rendered in the JSON shape ([`super::json_errors`]), and every 5xx
//! is logged at `error` with its method, path and id.
//!
//! The id is the client's `x-request-id` if it sent one, otherwise a random per-thread
//! prefix and a per-thread counter (`3f9a1c0e-1b`): unique across threads, restarts and
//! instances without a syscall or a shared atomic per request, which a random UUID or a
//! global counter would cost.

use std::{
    cell::Cell,
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
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::json_errors::{Outcome, Rewrite, classify};

pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

thread_local! {
    static NEXT_ID: (u32, Cell<u64>) = (random_prefix(), Cell::new(1));
}

fn random_prefix() -> u32 {
    let mut bytes = [0; 4];
    // Without OS randomness, the clock still keeps threads and restarts apart.
    if getrandom::fill(&mut bytes).is_err() {
        bytes = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default()
            .to_ne_bytes();
    }
    u32::from_ne_bytes(bytes)
}

/// A fresh request id from this thread's sequence: `{prefix:08x}-{counter:x}`.
fn next_request_id() -> HeaderValue {
    // Formatted by hand: `format!` cost a thousand instructions per request.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = [0u8; 8 + 1 + 16];
    let len = NEXT_ID.with(|(prefix, next)| {
        let n = next.get();
        next.set(n.wrapping_add(1));
        for (i, byte) in id[..8].iter_mut().enumerate() {
            *byte = HEX[(prefix >> (28 - 4 * i) & 0xf) as usize];
        }
        id[8] = b'-';
        let digits = (16 - n.leading_zeros() as usize / 4).max(1);
        for i in 0..digits {
            id[9 + i] = HEX[(n >> (4 * (digits - 1 - i)) & 0xf) as usize];
        }
        9 + digits
    });
    // Hex digits and a dash are always a valid header value.
    HeaderValue::from_bytes(&id[..len]).unwrap_or(HeaderValue::from_static("0"))
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RequestIdLayer;

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestId<S>;

    fn layer(&self, inner: S) -> RequestId<S> {
        RequestId { inner }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct RequestId<S> {
    inner: S,
}

impl<S, B, ResBody> Service<Request<B>> for RequestId<S>
where
    S: Service<Request<B>, Response = http::Response<ResBody>>,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = RequestIdFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let id = match request.headers().get(X_REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = next_request_id();
                request.headers_mut().insert(X_REQUEST_ID, id.clone());
                id
            }
        };
        let method = request.method().clone();
        let uri = request.uri().clone();
        RequestIdFuture {
            state: State::Inner {
                future: self.inner.call(request),
                request: Some((id, method, uri)),
            },
        }
    }
}

pin_project! {
    pub(crate) struct RequestIdFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Inner { #[pin] future: F, request: Option<(HeaderValue, Method, Uri)> },
        Rewriting { future: Rewrite },
    }
}

impl<F, E, ResBody> Future for RequestIdFuture<F>
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
                StateProj::Inner { future, request } => {
                    let mut response = ready!(future.poll(cx))?.map(Body::new);
                    // Polled to completion once; the state changes right after.
                    let Some((id, method, uri)) = request.take() else {
                        return Poll::Pending;
                    };
                    if response.status().is_server_error() {
                        tracing::error!(
                            status = response.status().as_u16(),
                            %method,
                            path = uri.path(),
                            request_id = id.to_str().unwrap_or_default(),
                            "request failed",
                        );
                    }
                    response.headers_mut().insert(X_REQUEST_ID, id.clone());
                    match classify(response, &id) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefix_dash_counter_in_hex() {
        let first = next_request_id();
        let (prefix, counter) = first.to_str().unwrap().split_once('-').unwrap();
        assert_eq!(prefix.len(), 8);
        assert!(prefix.bytes().all(|b| b.is_ascii_hexdigit()));
        let n = u64::from_str_radix(counter, 16).unwrap();
        for step in 1..=40 {
            let next = next_request_id();
            assert_eq!(next.to_str().unwrap(), format!("{prefix}-{:x}", n + step));
        }
    }

    #[test]
    fn ids_are_unique_within_and_across_threads() {
        let here: Vec<HeaderValue> = (0..3).map(|_| next_request_id()).collect();
        let there = std::thread::spawn(next_request_id).join().unwrap();
        assert_ne!(here[0], here[1]);
        assert_ne!(here[1], here[2]);
        assert!(!here.contains(&there));
    }
}
