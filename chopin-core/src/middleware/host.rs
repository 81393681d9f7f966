//! `400` for a request whose `Host` is missing (HTTP/1.1), repeated or not an
//! authority, as RFC 9112 section 3.2 requires: an application that builds links or
//! picks a tenant from `Host` never sees an ambiguous one.
//!
//! HTTP/1.0 may omit `Host`; HTTP/2 carries `:authority` instead, and a `Host` it sends
//! anyway is checked the same way.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Request, Version, header};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::api_error::ApiError;

/// Whether `request`'s `Host` is acceptable: exactly one, a non-empty authority without
/// userinfo and with a numeric port if any; or none, except on HTTP/1.1.
pub(crate) fn valid_host<B>(request: &Request<B>) -> bool {
    valid_hosts(
        request
            .headers()
            .get_all(header::HOST)
            .iter()
            .map(HeaderValue::as_bytes),
        request.version() == Version::HTTP_11,
    )
}

/// [`valid_host`] on the values of every `Host` field of a request, for callers that
/// parsed the request themselves.
pub(crate) fn valid_hosts<'a>(mut hosts: impl Iterator<Item = &'a [u8]>, http_11: bool) -> bool {
    let Some(host) = hosts.next() else {
        return !http_11;
    };
    hosts.next().is_none() && is_authority(host)
}

/// Bytes of an RFC 3986 registered name (unreserved, sub-delims, `%`): a table, because
/// the fast lane checks every byte of every request's `Host`.
const REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'%'
            );
        i += 1;
    }
    table
};

/// `host[:port]` as RFC 3986 allows it in an `http` URI: a non-empty registered name or
/// a bracketed IP literal, no userinfo, a port of digits that fits in 16 bits. Checked
/// byte by byte without copying: fast routes run it on every request.
fn is_authority(host: &[u8]) -> bool {
    let (name_ok, port) = if let Some(literal) = host.strip_prefix(b"[") {
        let Some(end) = literal.iter().position(|&b| b == b']') else {
            return false;
        };
        let address = &literal[..end];
        let ok = !address.is_empty()
            && address
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        (ok, &literal[end + 1..])
    } else {
        let end = host.iter().position(|&b| b == b':').unwrap_or(host.len());
        let name = &host[..end];
        let ok = !name.is_empty() && name.iter().all(|&b| REG_NAME[usize::from(b)]);
        (ok, &host[end..])
    };
    let port_ok = match port.split_first() {
        None => true,
        Some((b':', digits)) => {
            digits.iter().all(u8::is_ascii_digit)
                && digits.iter().fold(0u32, |port, &digit| {
                    // Saturates above any port, so leading zeros are allowed and a long
                    // number cannot overflow.
                    (port * 10 + u32::from(digit - b'0')).min(1 << 17)
                }) <= u32::from(u16::MAX)
        }
        Some(_) => false,
    };
    name_ok && port_ok
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct HostLayer;

impl<S> Layer<S> for HostLayer {
    type Service = Host<S>;

    fn layer(&self, inner: S) -> Host<S> {
        Host { inner }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Host<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for Host<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = HostFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if valid_host(&request) {
            HostFuture::Inner {
                future: self.inner.call(request),
            }
        } else {
            HostFuture::Refused {
                response: Some(refusal()),
            }
        }
    }
}

/// The answer to a request with a bad `Host`.
pub(crate) fn refusal() -> Response {
    ApiError::bad_request("missing or invalid Host header").into_response()
}

pin_project! {
    #[project = HostProj]
    pub(crate) enum HostFuture<F> {
        Inner { #[pin] future: F },
        Refused { response: Option<Response> },
    }
}

impl<F, E> Future for HostFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            HostProj::Inner { future } => future.poll(cx),
            // Polled once: a future is not polled after it completes.
            HostProj::Refused { response } => Poll::Ready(Ok(response.take().unwrap_or_default())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: Version, hosts: &[&str]) -> Request<()> {
        let mut builder = Request::builder().version(version).uri("/");
        for host in hosts {
            builder = builder.header(header::HOST, *host);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn accepts_one_authority() {
        for host in [
            "example.com",
            "example.com:8080",
            "127.0.0.1:3000",
            "[::1]:3000",
            "localhost",
            "example.com:",
            "example.com:65535",
            "example.com:000080",
        ] {
            assert!(valid_host(&request(Version::HTTP_11, &[host])), "{host}");
        }
    }

    #[test]
    fn refuses_missing_repeated_and_malformed_hosts() {
        assert!(!valid_host(&request(Version::HTTP_11, &[])));
        assert!(!valid_host(&request(Version::HTTP_11, &["a.com", "a.com"])));
        assert!(!valid_host(&request(Version::HTTP_10, &["a.com", "b.com"])));
        for host in [
            "",
            "user@example.com",
            "user:pw@example.com",
            "exa mple.com",
            "example.com/path",
            "example.com?q",
            "example.com:port",
            "example.com:65536",
            "example.com:99999999999999999999999999999",
            "example.com:+80",
            ":80",
        ] {
            assert!(!valid_host(&request(Version::HTTP_11, &[host])), "{host:?}");
        }
    }

    #[test]
    fn http_1_0_and_2_may_omit_it() {
        assert!(valid_host(&request(Version::HTTP_10, &[])));
        assert!(valid_host(&request(Version::HTTP_2, &[])));
        assert!(!valid_host(&request(Version::HTTP_10, &["user@x"])));
    }
}
