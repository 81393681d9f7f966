//! Security headers on every response of the router (fast routes stay byte-for-byte as
//! registered). A header the handler set itself keeps its value.
//!
//! | header | value | why |
//! |---|---|---|
//! | `X-Content-Type-Options` | `nosniff` | a JSON body is never sniffed into HTML or script |
//! | `X-Frame-Options` | `DENY` | no framing (clickjacking), for browsers without CSP |
//! | `Referrer-Policy` | `no-referrer` | URLs (and tokens in them) never leak onward |
//! | `Content-Security-Policy` | [`API_POLICY`], or [`DOCS_POLICY`] under `/api-docs` | a response rendered as a page loads nothing |
//! | `Cross-Origin-Opener-Policy` | `same-origin` | no cross-origin window keeps a handle on ours |
//! | `Cross-Origin-Resource-Policy` | `same-origin` | other sites cannot embed responses (`<img>`, `<script>`); CORS requests are not affected |
//! | `Cache-Control` | `no-store`, under `/api/auth/` only | tokens and user data stay out of caches |
//!
//! Inserted by the request id layer, which already touches every response: a handful of
//! prebuilt values instead of one more layer per header.

use http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::openapi::DOCS_PATH;

/// For JSON: nothing may load, nothing may frame it.
const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// Swagger UI: its scripts and styles from this origin, inline styles (its components
/// set some as markup), `data:` images (its icons, inlined in its CSS) and calls to this
/// origin (the document, "Try it out"). Scripts only from files this server sends.
const DOCS_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// Where the auth routes live ([`crate::auth`]): their answers carry tokens or user data.
const AUTH_PREFIX: &str = "/api/auth/";

const CROSS_ORIGIN_OPENER_POLICY: HeaderName =
    HeaderName::from_static("cross-origin-opener-policy");
const CROSS_ORIGIN_RESOURCE_POLICY: HeaderName =
    HeaderName::from_static("cross-origin-resource-policy");

/// Values checked at compile time: `HeaderValue::from_static` at run time checks every
/// byte of every value on every response.
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const DENY: HeaderValue = HeaderValue::from_static("DENY");
const NO_REFERRER: HeaderValue = HeaderValue::from_static("no-referrer");
const API_POLICY_VALUE: HeaderValue = HeaderValue::from_static(API_POLICY);
const DOCS_POLICY_VALUE: HeaderValue = HeaderValue::from_static(DOCS_POLICY);
const SAME_ORIGIN: HeaderValue = HeaderValue::from_static("same-origin");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

/// Adds the security headers `headers` lacks, for a response to a request for `path`.
pub(super) fn add(headers: &mut HeaderMap, path: &str) {
    let policy = if is_docs(path) {
        DOCS_POLICY_VALUE
    } else {
        API_POLICY_VALUE
    };
    // One growth instead of one per insert.
    headers.reserve(7);
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, NOSNIFF),
        (header::X_FRAME_OPTIONS, DENY),
        (header::REFERRER_POLICY, NO_REFERRER),
        (header::CONTENT_SECURITY_POLICY, policy),
        (CROSS_ORIGIN_OPENER_POLICY, SAME_ORIGIN),
        (CROSS_ORIGIN_RESOURCE_POLICY, SAME_ORIGIN),
    ] {
        headers.entry(name).or_insert(value);
    }
    if path.starts_with(AUTH_PREFIX) {
        headers.entry(header::CACHE_CONTROL).or_insert(NO_STORE);
    }
}

/// `/api-docs` and what is under it, not `/api-docsx`.
fn is_docs(path: &str) -> bool {
    path.strip_prefix(DOCS_PATH)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_added_and_a_handler_s_own_are_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("SAMEORIGIN"),
        );
        add(&mut headers, "/books");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "SAMEORIGIN");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::CONTENT_SECURITY_POLICY], API_POLICY);
        assert_eq!(headers.get_all(header::X_FRAME_OPTIONS).iter().count(), 1);
        assert!(!headers.contains_key(header::CACHE_CONTROL));
    }

    #[test]
    fn docs_and_auth_paths_get_their_own() {
        for (path, policy) in [
            ("/api-docs", DOCS_POLICY),
            ("/api-docs/swagger-ui.css", DOCS_POLICY),
            ("/api-docsx", API_POLICY),
            ("/", API_POLICY),
        ] {
            let mut headers = HeaderMap::new();
            add(&mut headers, path);
            assert_eq!(headers[header::CONTENT_SECURITY_POLICY], policy, "{path}");
        }
        let mut headers = HeaderMap::new();
        add(&mut headers, "/api/auth/login");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    }
}
