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

use std::sync::LazyLock;

use http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::paths::DOCS_PATH;

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

/// The security headers of a response to one kind of path, prebuilt: cloning a map
/// copies its table, where inserting each header hashes and probes it (a third of the
/// cost per response, measured in docs/performance.md).
struct Templates {
    api: HeaderMap,
    docs: HeaderMap,
    auth: HeaderMap,
}

static TEMPLATES: LazyLock<Templates> = LazyLock::new(|| {
    let template = |policy: &'static str, no_store: bool| {
        // Room for the handler's headers and the request id without growing the table.
        let mut headers = HeaderMap::with_capacity(16);
        for (name, value) in [
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CONTENT_SECURITY_POLICY, policy),
            (CROSS_ORIGIN_OPENER_POLICY, "same-origin"),
            (CROSS_ORIGIN_RESOURCE_POLICY, "same-origin"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        if no_store {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        headers
    };
    Templates {
        api: template(API_POLICY, false),
        docs: template(DOCS_POLICY, false),
        auth: template(API_POLICY, true),
    }
});

/// Which kind of path `path` is, as an index into [`Templates::all`].
fn kind(path: &str) -> usize {
    if path.starts_with(AUTH_PREFIX) {
        2
    } else if is_docs(path) {
        1
    } else {
        0
    }
}

impl Templates {
    fn all(&self) -> [&HeaderMap; 3] {
        [&self.api, &self.docs, &self.auth]
    }
}

/// The security headers of a response as the lines of its head, in the order the
/// header map gives them, for a server that writes heads without the map.
#[derive(Debug)]
pub(crate) struct Lines {
    /// Each header's name and its whole line, `name: value\r\n`.
    entries: Vec<(HeaderName, Vec<u8>)>,
    /// Bit `n` set when a name is `n` bytes long: most names are told apart from
    /// these without comparing them.
    lengths: u64,
}

impl Lines {
    /// The lines of a response to a request for `path`.
    pub(crate) fn for_path(path: &str) -> &'static Lines {
        static LINES: LazyLock<[Lines; 3]> = LazyLock::new(|| {
            TEMPLATES.all().map(|template| {
                let entries: Vec<_> = template
                    .iter()
                    .map(|(name, value)| {
                        let line = [name.as_str().as_bytes(), b": ", value.as_bytes(), b"\r\n"];
                        (name.clone(), line.concat())
                    })
                    .collect();
                let lengths = (entries.iter()).fold(0, |bits, (name, _)| bits | length_bit(name));
                Lines { entries, lengths }
            })
        });
        &LINES[kind(path)]
    }

    /// Each header's name and its line.
    pub(crate) fn entries(&self) -> &[(HeaderName, Vec<u8>)] {
        &self.entries
    }

    /// Where `name` is among them.
    pub(crate) fn position(&self, name: &HeaderName) -> Option<usize> {
        if self.lengths & length_bit(name) == 0 {
            return None;
        }
        self.entries.iter().position(|(line, _)| line == name)
    }
}

/// A name's bit in [`Lines::lengths`]; names of 63 bytes or more share the last.
fn length_bit(name: &HeaderName) -> u64 {
    1 << name.as_str().len().min(63)
}

/// Adds the security headers `headers` lacks, for a response to a request for `path`.
pub(super) fn add(headers: &mut HeaderMap, path: &str) {
    let template = TEMPLATES.all()[kind(path)];
    let own = std::mem::replace(headers, template.clone());
    // The handler's headers replace the defaults, all their values kept.
    let mut name = None;
    for (next, value) in own {
        match next {
            Some(next) => {
                headers.insert(&next, value);
                name = Some(next);
            }
            // Only after a name, as `HeaderMap::into_iter` promises.
            None => {
                if let Some(name) = &name {
                    headers.append(name, value);
                }
            }
        }
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
    fn every_value_of_a_handler_s_headers_is_kept() {
        let mut headers = HeaderMap::new();
        headers.append(header::SET_COOKIE, HeaderValue::from_static("a=1"));
        headers.append(header::SET_COOKIE, HeaderValue::from_static("b=2"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        headers.append(header::VARY, HeaderValue::from_static("origin"));
        headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
        add(&mut headers, "/api/auth/me");
        let all = |name| {
            headers
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(all(header::SET_COOKIE), ["a=1", "b=2"]);
        assert_eq!(all(header::VARY), ["origin", "accept-encoding"]);
        assert_eq!(all(header::CONTENT_TYPE), ["text/html"]);
        assert_eq!(all(header::CACHE_CONTROL), ["no-store"]);
        assert_eq!(headers.len(), 12, "{headers:?}");
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
