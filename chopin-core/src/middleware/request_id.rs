//! The outermost layer: every request gets an id, every response carries it and the
//! security headers ([`super::security_headers`]), every error response is rendered in
//! the JSON shape ([`super::json_errors`]), and every 5xx is logged at `error` with its
//! method, path and id.
//!
//! The id is the client's `x-request-id` if it is a plausible id ([`acceptable`]: at
//! most 64 bytes of letters, digits and `-_.:+/=`), otherwise a generated one: a
//! per-thread random 64-bit prefix and a per-thread counter (`3f9a1c0e5b7d2a41-1b`),
//! unique across threads, restarts and a fleet of instances without a syscall or a
//! shared atomic per request, which a random UUID or a global counter would cost. A
//! client's id that is refused is neither echoed nor logged.

use std::{
    cell::Cell,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::{
    BoxError,
    body::{Body, HttpBody},
    response::Response,
};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::{Stamp, json_errors::RenderErrorsFuture, security_headers};

pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-chosen id kept, in bytes: a UUID is 36, a W3C `traceparent` 55.
const MAX_CLIENT_ID_LEN: usize = 64;

thread_local! {
    static NEXT_ID: (u64, Cell<u64>) = (random_prefix(), Cell::new(1));
}

fn random_prefix() -> u64 {
    let mut bytes = [0; 8];
    // Without OS randomness, the clock still keeps threads and restarts apart.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        // The low 64 bits are the ones that change.
        bytes = (nanos as u64).to_ne_bytes();
    }
    u64::from_ne_bytes(bytes)
}

/// A fresh request id from this thread's sequence: `{prefix:016x}-{counter:x}`.
pub(crate) fn next_request_id() -> HeaderValue {
    // Formatted by hand: `format!` cost a thousand instructions per request.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = [0u8; 16 + 1 + 16];
    let len = NEXT_ID.with(|(prefix, next)| {
        let n = next.get();
        next.set(n.wrapping_add(1));
        for (i, byte) in id[..16].iter_mut().enumerate() {
            *byte = HEX[(prefix >> (60 - 4 * i) & 0xf) as usize];
        }
        id[16] = b'-';
        let digits = (16 - n.leading_zeros() as usize / 4).max(1);
        for i in 0..digits {
            id[17 + i] = HEX[(n >> (4 * (digits - 1 - i)) & 0xf) as usize];
        }
        17 + digits
    });
    // Hex digits and a dash are always a valid header value.
    HeaderValue::from_bytes(&id[..len]).unwrap_or(HeaderValue::from_static("0"))
}

/// The client's id, if it sent exactly one that is safe to echo, log and put in JSON.
pub(crate) fn client_id(headers: &HeaderMap) -> Option<&HeaderValue> {
    let mut ids = headers.get_all(X_REQUEST_ID).iter();
    let id = ids.next()?;
    (ids.next().is_none() && acceptable(id.as_bytes())).then_some(id)
}

/// 1 to 64 bytes of letters, digits and `-_.:+/=`: UUIDs, trace ids and base64 fit;
/// spaces, quotes, control bytes and anything that could forge a log field do not.
pub(crate) fn acceptable(id: &[u8]) -> bool {
    (1..=MAX_CLIENT_ID_LEN).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:+/=".contains(b))
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestIdLayer {
    /// How long an error body may take to read before it is replaced.
    error_body_timeout: Duration,
    stamp: Stamp,
}

impl RequestIdLayer {
    pub(crate) fn new(error_body_timeout: Duration, stamp: Stamp) -> Self {
        Self {
            error_body_timeout,
            stamp,
        }
    }
}

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestId<S>;

    fn layer(&self, inner: S) -> RequestId<S> {
        RequestId {
            inner,
            error_body_timeout: self.error_body_timeout,
            stamp: self.stamp,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct RequestId<S> {
    inner: S,
    error_body_timeout: Duration,
    stamp: Stamp,
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
        // The server put in an id of its own or the client's it checked.
        let by_server = match self.stamp {
            Stamp::ByServer => request.headers().get(X_REQUEST_ID),
            Stamp::Here => None,
        };
        let id = match by_server.or_else(|| client_id(request.headers())) {
            Some(id) => id.clone(),
            None => {
                let id = next_request_id();
                // Replaces any refused id, so inner layers and handlers see this one.
                request.headers_mut().insert(X_REQUEST_ID, id.clone());
                id
            }
        };
        let method = request.method().clone();
        let uri = request.uri().clone();
        let stamped = Stamped {
            future: self.inner.call(request),
            request: Some((id.clone(), method, uri)),
            stamp: self.stamp,
        };
        RenderErrorsFuture::new(stamped, Some(id), self.error_body_timeout)
    }
}

/// The request id layer's future: the response stamped, then its error body rendered.
pub(crate) type RequestIdFuture<F> = RenderErrorsFuture<Stamped<F>>;

pin_project! {
    /// The inner response with the request id and the security headers, a 5xx logged.
    pub(crate) struct Stamped<F> {
        #[pin]
        future: F,
        request: Option<(HeaderValue, Method, Uri)>,
        stamp: Stamp,
    }
}

impl<F, E, ResBody> Future for Stamped<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.future.poll(cx))?.map(Body::new);
        // Polled to completion once.
        let Some((id, method, uri)) = this.request.take() else {
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
        if *this.stamp == Stamp::Here {
            security_headers::add(response.headers_mut(), uri.path());
            response.headers_mut().insert(X_REQUEST_ID, id);
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefix_dash_counter_in_hex() {
        let first = next_request_id();
        let (prefix, counter) = first.to_str().unwrap().split_once('-').unwrap();
        assert_eq!(prefix.len(), 16);
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

    #[test]
    fn client_ids_are_kept_only_when_short_and_plain() {
        for id in [
            "abc-123",
            "3f9a1c0e-5b7d-4a41-9c3e-1b2a3c4d5e6f",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "dGVzdA==",
            &"a".repeat(64),
        ] {
            assert!(acceptable(id.as_bytes()), "{id}");
        }
        for id in [
            "",
            "has space",
            "quote\"",
            "new\nline",
            "key=value;other",
            "caf\u{e9}",
            &"a".repeat(65),
        ] {
            assert!(!acceptable(id.as_bytes()), "{id:?}");
        }
        let mut headers = HeaderMap::new();
        headers.append(X_REQUEST_ID, HeaderValue::from_static("one"));
        assert_eq!(client_id(&headers).unwrap(), "one");
        headers.append(X_REQUEST_ID, HeaderValue::from_static("two"));
        assert!(client_id(&headers).is_none(), "two ids, neither is trusted");
    }
}
