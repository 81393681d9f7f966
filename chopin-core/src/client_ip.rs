//! [`ClientIp`]: the address of the client a request comes from, read through the
//! trusted proxies in front of the app.
//!
//! The server puts each connection's peer into every request it hands the router, in
//! both modes, as axum's `ConnectInfo<SocketAddr>`; the middleware stack adds
//! `TRUSTED_PROXIES` when it is set. Forwarding headers are read only when the peer is
//! one of those proxies.

use std::{
    convert::Infallible,
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
};

use axum::extract::{
    ConnectInfo, FromRequestParts, OptionalFromRequestParts, connect_info::MockConnectInfo,
};
use http::{Extensions, HeaderMap, HeaderValue, header::GetAll, request::Parts};

use crate::{api_error::ApiError, config::TrustedProxies};

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The address of the client that sent the request: the connection's peer, unless the
/// peer is one of `TRUSTED_PROXIES`. Then it is the nearest address of
/// `X-Forwarded-For` that is not itself a trusted proxy, walking from the right (the hop
/// closest to this server; the ones further left could be anything the client wrote), or,
/// without that header, of `Forwarded: for=` (RFC 7239). A malformed header, or one that
/// names no address (`for=unknown`), gives the peer. A client that is not a trusted proxy
/// cannot change its address by sending these headers.
///
/// IPv4 addresses mapped into IPv6 (`::ffff:192.0.2.7`, as a dual-stack listener
/// reports them) are given as IPv4.
///
/// Every request the server hands the router has a peer, in both modes. A request built
/// in a test and sent with `tower::ServiceExt::oneshot` has none: extracting `ClientIp`
/// answers `500`, `Option<ClientIp>` gives `None`. Give such requests a peer with axum's
/// `MockConnectInfo` layer, which `ClientIp` reads too.
///
/// ```
/// use std::net::SocketAddr;
///
/// use chopin_core::{
///     ClientIp,
///     axum::{Router, body::Body, extract::connect_info::MockConnectInfo, routing::get},
///     http::Request,
///     tower::ServiceExt,
/// };
///
/// async fn whoami(ClientIp(ip): ClientIp) -> String {
///     ip.to_string()
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = Router::new()
///     .route("/whoami", get(whoami))
///     .layer(MockConnectInfo(SocketAddr::from(([192, 0, 2, 7], 4711))));
/// let request = Request::get("/whoami").body(Body::empty()).unwrap();
/// let response = app.oneshot(request).await.unwrap();
/// let body = chopin_core::axum::body::to_bytes(response.into_body(), 64).await.unwrap();
/// assert_eq!(body, "192.0.2.7");
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The client address of a request with these extensions and headers; `None` when
    /// it has no peer.
    pub(crate) fn resolve(extensions: &Extensions, headers: &HeaderMap) -> Option<Self> {
        let peer = peer(extensions)?.to_canonical();
        let ip = match extensions.get::<TrustedProxies>() {
            Some(trusted) if trusted.contains(peer) => forwarded(headers, trusted).unwrap_or(peer),
            _ => peer,
        };
        Some(Self(ip))
    }
}

impl fmt::Display for ClientIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// `500` when the request has no peer: a router served by something other than
/// Chopin's server, or a test request without `MockConnectInfo`.
impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Self::resolve(&parts.extensions, &parts.headers).ok_or_else(|| {
            tracing::error!(
                "ClientIp: the request has no peer address (in a test, add axum's MockConnectInfo layer)"
            );
            ApiError::internal()
        })
    }
}

/// `None` when the request has no peer.
impl<S: Send + Sync> OptionalFromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Infallible> {
        Ok(Self::resolve(&parts.extensions, &parts.headers))
    }
}

/// The connection's peer as the server records it, or as a test's `MockConnectInfo`
/// gives it.
fn peer(extensions: &Extensions) -> Option<IpAddr> {
    if let Some(ConnectInfo(addr)) = extensions.get::<ConnectInfo<SocketAddr>>() {
        return Some(addr.ip());
    }
    let MockConnectInfo(addr) = extensions.get::<MockConnectInfo<SocketAddr>>()?;
    Some(addr.ip())
}

/// The client named by the forwarding headers of a request from a trusted proxy;
/// `None` when they are absent or malformed.
fn forwarded(headers: &HeaderMap, trusted: &TrustedProxies) -> Option<IpAddr> {
    let x_forwarded_for = headers.get_all(X_FORWARDED_FOR);
    if x_forwarded_for.iter().next().is_some() {
        nearest_untrusted(x_forwarded_for, trusted, x_forwarded_for_hop)
    } else {
        nearest_untrusted(
            headers.get_all(http::header::FORWARDED),
            trusted,
            forwarded_hop,
        )
    }
}

/// Walks the comma-separated hops of `values` from the right: the first that is not a
/// trusted proxy is the client; when every hop is, the leftmost one. A hop `parse`
/// cannot read ends the walk with `None`: who sent it is unknown.
fn nearest_untrusted(
    values: GetAll<'_, HeaderValue>,
    trusted: &TrustedProxies,
    parse: fn(&str) -> Option<IpAddr>,
) -> Option<IpAddr> {
    let mut leftmost = None;
    // Repeated header lines are one list, in order (RFC 9110 section 5.3).
    for value in values.iter().rev() {
        for hop in value.to_str().ok()?.rsplit(',') {
            let ip = parse(hop.trim())?.to_canonical();
            if !trusted.contains(ip) {
                return Some(ip);
            }
            leftmost = Some(ip);
        }
    }
    leftmost
}

/// `192.0.2.7`, `2001:db8::1`, and the forms with a port some proxies write
/// (`192.0.2.7:4711`, `[2001:db8::1]:4711`, `[2001:db8::1]`).
fn x_forwarded_for_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Ok(addr) = hop.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    let v6 = hop.strip_prefix('[')?.strip_suffix(']')?;
    v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// The `for=` node of one `Forwarded` element: `for=192.0.2.7`, `for="192.0.2.7:4711"`,
/// `for="[2001:db8::1]:4711"`. `unknown` and obfuscated names (`_hidden`) name no address.
fn forwarded_hop(element: &str) -> Option<IpAddr> {
    let node = element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then_some(value.trim())
    })?;
    let node = (node.strip_prefix('"'))
        .and_then(|n| n.strip_suffix('"'))
        .unwrap_or(node);
    if let Some(bracketed) = node.strip_prefix('[') {
        let (v6, port) = bracketed.split_once(']')?;
        if !(port.is_empty() || port.starts_with(':')) {
            return None;
        }
        return v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let host = node.split_once(':').map_or(node, |(host, _port)| host);
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(peer: &str, trusted: &str, headers: &[(&str, &str)]) -> IpAddr {
        let mut extensions = Extensions::new();
        extensions.insert(ConnectInfo(SocketAddr::new(peer.parse().unwrap(), 4711)));
        let trusted: TrustedProxies = trusted.parse().unwrap();
        if !trusted.is_empty() {
            extensions.insert(trusted);
        }
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        ClientIp::resolve(&extensions, &map).unwrap().0
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let forged = [
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
        ];
        assert_eq!(client("198.51.100.1", "", &forged), ip("198.51.100.1"));
        assert_eq!(
            client("198.51.100.1", "10.0.0.0/8", &forged),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn a_trusted_peer_names_the_nearest_untrusted_hop() {
        let trusted = "10.0.0.0/8";
        let xff = |value| [("x-forwarded-for", value)];
        assert_eq!(
            client("10.0.0.1", trusted, &xff("203.0.113.9")),
            ip("203.0.113.9")
        );
        // The client wrote the leftmost entry itself; the proxy appended the real one.
        assert_eq!(
            client("10.0.0.1", trusted, &xff("1.1.1.1, 203.0.113.9, 10.0.0.2")),
            ip("203.0.113.9")
        );
        assert_eq!(
            client("10.0.0.1", trusted, &xff("10.0.0.3, 10.0.0.2")),
            ip("10.0.0.3")
        );
        let lines = [
            ("x-forwarded-for", "1.1.1.1, 203.0.113.9"),
            ("x-forwarded-for", "10.0.0.2"),
        ];
        assert_eq!(client("10.0.0.1", trusted, &lines), ip("203.0.113.9"));
        assert_eq!(
            client("10.0.0.1", trusted, &xff("[2001:db8::1]:4711")),
            ip("2001:db8::1")
        );
        assert_eq!(
            client("::ffff:10.0.0.1", trusted, &xff("::ffff:203.0.113.9")),
            ip("203.0.113.9")
        );
        assert_eq!(client("10.0.0.1", trusted, &[]), ip("10.0.0.1"));
    }

    #[test]
    fn forwarded_is_read_without_x_forwarded_for() {
        let trusted = "10.0.0.0/8";
        let header = |value| [("forwarded", value)];
        assert_eq!(
            client("10.0.0.1", trusted, &header("for=203.0.113.9;proto=https")),
            ip("203.0.113.9")
        );
        assert_eq!(
            client(
                "10.0.0.1",
                trusted,
                &header(r#"for="[2001:db8:cafe::17]:4711", For=10.0.0.2;by=10.0.0.1"#)
            ),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(
            client("10.0.0.1", trusted, &header(r#"for="198.51.100.4:80""#)),
            ip("198.51.100.4")
        );
        let both = [
            ("forwarded", "for=198.51.100.4"),
            ("x-forwarded-for", "203.0.113.9"),
        ];
        assert_eq!(client("10.0.0.1", trusted, &both), ip("203.0.113.9"));
    }

    #[test]
    fn malformed_headers_give_the_peer() {
        let trusted = "10.0.0.0/8";
        for (name, value) in [
            ("x-forwarded-for", "203.0.113.9, not-an-ip"),
            ("x-forwarded-for", "203.0.113.9,"),
            ("x-forwarded-for", ""),
            ("forwarded", "for=unknown"),
            ("forwarded", "for=_hidden"),
            ("forwarded", "proto=https"),
            ("forwarded", r#"for="[2001:db8::1]x""#),
        ] {
            assert_eq!(
                client("10.0.0.1", trusted, &[(name, value)]),
                ip("10.0.0.1"),
                "{name}: {value}"
            );
        }
    }

    #[test]
    fn no_peer_no_client() {
        assert_eq!(
            ClientIp::resolve(&Extensions::new(), &HeaderMap::new()),
            None
        );
        let mut extensions = Extensions::new();
        extensions.insert(MockConnectInfo(SocketAddr::from(([192, 0, 2, 7], 1))));
        assert_eq!(
            ClientIp::resolve(&extensions, &HeaderMap::new()),
            Some(ClientIp(ip("192.0.2.7")))
        );
    }
}
