//! [`FastRoute`]: a static response registered by method-free path.
//!
//! One definition answers identically in both modes:
//!
//! | request | answer |
//! |---|---|
//! | `GET path` (any query string) | `200`, the body, `Content-Type`, `Content-Length`, `Server: chopin`, `Date` (and the client's `x-request-id`) |
//! | `HEAD path` | the same status and headers, no body |
//! | any other method | `405` in the JSON error shape, `Allow: GET,HEAD`, a request id |
//!
//! In both modes [`FastRoutes`] answers `GET` and `HEAD` before the router and its
//! middleware: a fast route logs nothing, so it generates no request id (it echoes the
//! client's `x-request-id` if one is sent). Every other request, and any request
//! carrying `Origin` when CORS is configured, goes to the router, where the fast route is
//! also registered so other methods get the router's `405`.

use axum::{
    response::{IntoResponse, Response},
    routing::{MethodRouter, get},
};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, header};
use http_body_util::Full;

use crate::middleware::request_id::{X_REQUEST_ID, client_id};

/// A path answered with a fixed body, headers built once at registration.
///
/// ```
/// use chopin_core::FastRoute;
///
/// let json = FastRoute::json("/json", r#"{"message":"Hello, World!"}"#);
/// let text = FastRoute::text("/plaintext", "Hello, World!");
/// assert_eq!(json.path(), "/json");
/// # let _ = text;
/// ```
#[derive(Clone, Debug)]
pub struct FastRoute {
    path: &'static str,
    content_type: HeaderValue,
    body: Bytes,
    /// `Content-Type` and `Server`, hashed once here: cloning the map per response
    /// costs less than inserting into a new one.
    headers: HeaderMap,
}

const SERVER: HeaderValue = HeaderValue::from_static("chopin");

impl FastRoute {
    /// A route answering `body` with the given `Content-Type`.
    ///
    /// # Panics
    ///
    /// If `path` is not a static absolute path: it must start with `/` and contain no
    /// `{`, `}`, `*`, `?`, `#` or whitespace.
    #[track_caller]
    #[must_use]
    pub fn new(path: &'static str, content_type: HeaderValue, body: impl Into<Bytes>) -> Self {
        assert!(
            path.starts_with('/')
                && !path.contains(|c: char| "{}*?#".contains(c) || c.is_whitespace()),
            "fast route path {path:?} must be a static path starting with '/' \
             (no parameters, wildcards, query or whitespace)"
        );
        let mut headers = HeaderMap::with_capacity(3);
        headers.insert(header::CONTENT_TYPE, content_type.clone());
        headers.insert(header::SERVER, SERVER);
        Self {
            path,
            content_type,
            body: body.into(),
            headers,
        }
    }

    /// A route answering `body` as `application/json`. The body is not validated.
    ///
    /// # Panics
    ///
    /// As [`FastRoute::new`].
    #[track_caller]
    #[must_use]
    pub fn json(path: &'static str, body: impl Into<Bytes>) -> Self {
        Self::new(path, HeaderValue::from_static("application/json"), body)
    }

    /// A route answering `body` as `text/plain; charset=utf-8`.
    ///
    /// # Panics
    ///
    /// As [`FastRoute::new`].
    #[track_caller]
    #[must_use]
    pub fn text(path: &'static str, body: impl Into<Bytes>) -> Self {
        Self::new(
            path,
            HeaderValue::from_static("text/plain; charset=utf-8"),
            body,
        )
    }

    /// The path this route answers.
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// The response to `GET`; axum strips the body for `HEAD`.
    fn response(&self) -> Response {
        (
            [
                (header::CONTENT_TYPE, self.content_type.clone()),
                (header::SERVER, SERVER),
            ],
            self.body.clone(),
        )
            .into_response()
    }

    /// The axum route: `GET` and `HEAD` answered, other methods `405` with `Allow`.
    /// The `Content-Type` it answers with.
    pub(crate) fn content_type(&self) -> &str {
        self.content_type.to_str().unwrap_or_default()
    }

    /// The body it answers with.
    pub(crate) fn body(&self) -> &[u8] {
        &self.body
    }

    pub(crate) fn method_router(&self) -> MethodRouter {
        let route = self.clone();
        get(move || {
            let response = route.response();
            async move { response }
        })
    }
}

/// The fast routes of an application, sorted by path for lookup without allocation.
#[derive(Clone, Debug, Default)]
pub(crate) struct FastRoutes {
    routes: Vec<FastRoute>,
    /// With CORS configured, cross-origin requests need the middleware's headers.
    cors: bool,
}

impl FastRoutes {
    pub(crate) fn new(mut routes: Vec<FastRoute>, cors: bool) -> Self {
        routes.sort_unstable_by_key(|r| r.path);
        Self { routes, cors }
    }

    /// The response for `request` if a fast route answers it, else `None`.
    pub(crate) fn respond<B>(&self, request: &Request<B>) -> Option<http::Response<Full<Bytes>>> {
        if !matches!(*request.method(), Method::GET | Method::HEAD)
            || (self.cors && request.headers().contains_key(header::ORIGIN))
        {
            return None;
        }
        let path = request.uri().path();
        let index = self.routes.binary_search_by(|r| r.path.cmp(path)).ok()?;
        let route = &self.routes[index];
        // hyper adds Content-Length from the body and its per-thread cached Date, and
        // drops the body of a HEAD response.
        let mut response = http::Response::new(Full::new(route.body.clone()));
        *response.headers_mut() = route.headers.clone();
        if let Some(id) = client_id(request.headers()) {
            response.headers_mut().insert(X_REQUEST_ID, id.clone());
        }
        Some(response)
    }
}
