//! [`FastRoute`]: a response registered by method-free path, static or computed by a
//! synchronous handler.
//!
//! One definition answers identically in both modes:
//!
//! | request | answer |
//! |---|---|
//! | `GET path` (any query string) | the status (`200` for a static body), the body, `Content-Type`, `Server: chopin`, `Content-Length`, `Date` (and the client's `x-request-id`) |
//! | `HEAD path` | the same status and headers, no body |
//! | any other method | `405` in the JSON error shape, `Allow: GET,HEAD`, a request id |
//!
//! In both modes `GET` and `HEAD` are answered before the router and its middleware; in
//! performance mode, by the fast lane's own connection loop. A fast route logs nothing,
//! so it generates no request id (it echoes the client's `x-request-id` if it is
//! plausible). Every other request, and any request carrying `Origin` when CORS is
//! configured, goes to the router, where the fast route is also registered so other
//! methods get the router's `405`.

use std::{
    fmt, io,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::Arc,
};

use axum::{
    extract::Request,
    response::IntoResponse,
    routing::{MethodRouter, get},
};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::Full;
use serde::Serialize;

use utoipa::openapi::{
    ContentBuilder, PathItem,
    schema::{ObjectBuilder, Type},
};

use crate::{
    middleware::{
        catch_panic::{internal_error, panic_detail},
        request_id::{X_REQUEST_ID, client_id},
    },
    openapi::get_and_head,
};

const SERVER: HeaderValue = HeaderValue::from_static("chopin");

/// A path answered without the router: a fixed body with headers built once at
/// registration, or a synchronous handler that writes its answer per request.
///
/// ```
/// use chopin_core::{FastRequest, FastResponse, FastRoute};
///
/// let json = FastRoute::json("/json", r#"{"message":"Hello, World!"}"#);
/// let text = FastRoute::text("/plaintext", "Hello, World!");
///
/// #[derive(serde::Serialize)]
/// struct Message<'a> {
///     message: &'a str,
/// }
/// // Serialised per request, as TechEmpower's JSON test demands.
/// let computed = FastRoute::computed("/hello", |request: &FastRequest<'_>, response: &mut FastResponse<'_>| {
///     let name = request.query().and_then(|q| q.strip_prefix("name=")).unwrap_or("World");
///     response.json(&Message { message: &format!("Hello, {name}!") });
/// });
/// assert_eq!(json.path(), "/json");
/// # let _ = (text, computed);
/// ```
#[derive(Clone)]
pub struct FastRoute {
    path: &'static str,
    content_type: HeaderValue,
    answer: Answer,
}

#[derive(Clone)]
enum Answer {
    Static {
        body: Bytes,
        /// `Content-Type` and `Server`, hashed once here: cloning the map per response
        /// costs less than inserting into a new one.
        headers: HeaderMap,
        /// The same answer as bytes for the fast lane, in the order hyper writes it:
        /// the status line and the headers above, then `content-length`.
        head: Bytes,
        length_line: Bytes,
    },
    Computed(Arc<dyn Handler>),
}

/// A computed route's handler panicked; the panic is logged and the request gets the
/// `500` the router's panic guard gives.
#[derive(Debug)]
pub(crate) struct Panicked;

/// What a computed fast route runs per request.
trait Handler: Fn(&FastRequest<'_>, &mut FastResponse<'_>) + Send + Sync + 'static {}

impl<F> Handler for F where F: Fn(&FastRequest<'_>, &mut FastResponse<'_>) + Send + Sync + 'static {}

impl fmt::Debug for FastRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.answer {
            Answer::Static { .. } => "static",
            Answer::Computed(_) => "computed",
        };
        f.debug_struct("FastRoute")
            .field("path", &self.path)
            .field("content_type", &self.content_type)
            .field("answer", &kind)
            .finish()
    }
}

/// The request a computed fast route answers: always `GET` or `HEAD`, HTTP/1.1 or
/// later, with no body.
#[derive(Debug)]
pub struct FastRequest<'a> {
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    headers: Headers<'a>,
}

#[derive(Debug)]
enum Headers<'a> {
    Parsed(&'a [httparse::Header<'a>]),
    Map(&'a HeaderMap),
}

impl<'a> FastRequest<'a> {
    /// `GET` or `HEAD` (the answer to `HEAD` is computed, then sent without its body).
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The path, without the query.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The query string after `?`, undecoded.
    pub fn query(&self) -> Option<&'a str> {
        self.query
    }

    /// The first value of the header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        match self.headers {
            Headers::Parsed(headers) => headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value),
            Headers::Map(map) => map.get(name).map(HeaderValue::as_bytes),
        }
    }

    pub(crate) fn parsed(
        method: &'a str,
        path: &'a str,
        query: Option<&'a str>,
        headers: &'a [httparse::Header<'a>],
    ) -> Self {
        Self {
            method,
            path,
            query,
            headers: Headers::Parsed(headers),
        }
    }

    fn from_http<B>(request: &'a http::Request<B>) -> Self {
        Self {
            method: request.method().as_str(),
            path: request.uri().path(),
            query: request.uri().query(),
            headers: Headers::Map(request.headers()),
        }
    }
}

/// Where a computed fast route writes its answer: status (default `200`), content type
/// (default: the route's) and body. The `Content-Length`, `Server` and `Date` headers
/// are added for it.
#[derive(Debug)]
pub struct FastResponse<'a> {
    status: StatusCode,
    content_type: HeaderValue,
    body: &'a mut Vec<u8>,
}

impl FastResponse<'_> {
    /// Sets the status. Informational statuses (`1xx`) are not final answers and become
    /// `500`.
    pub fn set_status(&mut self, status: StatusCode) {
        self.status = if status.is_informational() {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            status
        };
    }

    /// Sets the `Content-Type`.
    pub fn set_content_type(&mut self, content_type: HeaderValue) {
        self.content_type = content_type;
    }

    /// The body written so far; write more with [`std::io::Write`] or `extend`.
    pub fn body(&mut self) -> &mut Vec<u8> {
        self.body
    }

    /// Replaces the body with `value` as JSON and sets `Content-Type: application/json`.
    /// A value that cannot be serialised (a map with non-string keys) answers `500`.
    pub fn json<T: Serialize + ?Sized>(&mut self, value: &T) {
        self.body.clear();
        self.content_type = HeaderValue::from_static("application/json");
        if serde_json::to_writer(&mut *self.body, value).is_err() {
            self.body.clear();
            self.status = StatusCode::INTERNAL_SERVER_ERROR;
        }
    }
}

impl io::Write for FastResponse<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.body.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

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
        check_path(path);
        let mut headers = HeaderMap::with_capacity(3);
        headers.insert(header::CONTENT_TYPE, content_type.clone());
        headers.insert(header::SERVER, SERVER);
        let body = body.into();
        let mut head = Vec::new();
        write_status_line(&mut head, StatusCode::OK);
        write_header(&mut head, b"content-type", content_type.as_bytes());
        write_header(&mut head, b"server", SERVER.as_bytes());
        let mut length_line = Vec::new();
        write_header(
            &mut length_line,
            b"content-length",
            itoa::Buffer::new().format(body.len()).as_bytes(),
        );
        Self {
            path,
            content_type,
            answer: Answer::Static {
                body,
                headers,
                head: head.into(),
                length_line: length_line.into(),
            },
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

    /// A route whose answer `handler` writes per request, synchronously, without the
    /// router or its middleware: for a computed body (a serialised struct, a health
    /// check, a counter). The content type is `application/json` unless the handler
    /// sets another. A handler must not block: it runs on the thread serving the
    /// connection. If it panics, that request is answered with the `500` the router's
    /// panic guard gives (request id and JSON body included), the panic is logged, and
    /// the connection serves on.
    ///
    /// ```
    /// use chopin_core::FastRoute;
    ///
    /// let health = FastRoute::computed("/health", |_, response| {
    ///     response.json(&serde_json::json!({"status": "ok"}));
    /// });
    /// # let _ = health;
    /// ```
    ///
    /// # Panics
    ///
    /// As [`FastRoute::new`].
    #[track_caller]
    #[must_use]
    pub fn computed<F>(path: &'static str, handler: F) -> Self
    where
        F: Fn(&FastRequest<'_>, &mut FastResponse<'_>) + Send + Sync + 'static,
    {
        check_path(path);
        Self {
            path,
            content_type: HeaderValue::from_static("application/json"),
            answer: Answer::Computed(Arc::new(handler)),
        }
    }

    /// The path this route answers.
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// Its entry in the OpenAPI document: `GET` and `HEAD` answering the registered
    /// body, or what the handler writes.
    pub(crate) fn documentation(&self) -> PathItem {
        let content_type = self.content_type.to_str().unwrap_or_default();
        let media = content_type.split(';').next().unwrap_or_default().trim();
        let schema = if media == "application/json" {
            ObjectBuilder::new().build()
        } else {
            ObjectBuilder::new().schema_type(Type::String).build()
        };
        let example = match &self.answer {
            Answer::Static { body, .. } => Some(match serde_json::from_slice(body) {
                Ok(value) if media == "application/json" => value,
                _ => serde_json::Value::String(String::from_utf8_lossy(body).into_owned()),
            }),
            Answer::Computed(_) => None,
        };
        let (summary, description) = match example {
            Some(_) => ("Static response of", "The registered body"),
            None => (
                "Computed response of",
                "The body the route's handler writes",
            ),
        };
        get_and_head(
            format!("{summary} {}", self.path),
            description,
            media,
            ContentBuilder::new()
                .schema(Some(schema))
                .example(example)
                .build(),
        )
    }

    /// Runs a computed route's handler: status, content type, and the body in `body`.
    /// A panic is caught and logged here, so the caller answers it with its `500`.
    fn compute(
        &self,
        handler: &dyn Handler,
        request: &FastRequest<'_>,
        body: &mut Vec<u8>,
    ) -> Result<(StatusCode, HeaderValue), Panicked> {
        let mut response = FastResponse {
            status: StatusCode::OK,
            content_type: self.content_type.clone(),
            body,
        };
        // Nothing the handler can reach outlives the panic but `body`, cleared below.
        match catch_unwind(AssertUnwindSafe(|| handler(request, &mut response))) {
            Ok(()) => Ok((response.status, response.content_type)),
            Err(panic) => {
                tracing::error!(
                    path = self.path,
                    panic = panic_detail(&*panic),
                    "handler panicked"
                );
                response.body.clear();
                Err(Panicked)
            }
        }
    }

    /// Appends the whole answer, byte for byte as hyper would write it, to `output`;
    /// `head_end` is the `date` line and the blank line that end every head. `scratch`
    /// holds a computed body on its way. A computed route that panics writes nothing.
    pub(crate) fn write_to(
        &self,
        output: &mut Output,
        scratch: &mut Vec<u8>,
        request: &FastRequest<'_>,
        request_id: Option<&[u8]>,
        head_end: &[u8],
    ) -> Result<(), Panicked> {
        let head_only = request.method == "HEAD";
        let out = &mut output.bytes;
        match &self.answer {
            Answer::Static {
                body,
                head,
                length_line,
                ..
            } => {
                out.extend_from_slice(head);
                if let Some(id) = request_id {
                    write_header(out, b"x-request-id", id);
                }
                if has_content_length(StatusCode::OK, body.len(), head_only) {
                    out.extend_from_slice(length_line);
                }
                out.extend_from_slice(head_end);
                if !head_only {
                    output.push_body(body);
                }
            }
            Answer::Computed(handler) => {
                scratch.clear();
                let (status, content_type) = self.compute(handler.as_ref(), request, scratch)?;
                if status == StatusCode::OK && content_type.as_bytes() == b"application/json" {
                    // Most computed answers: one copy instead of three lines' worth.
                    out.extend_from_slice(JSON_OK_HEAD);
                } else {
                    write_status_line(out, status);
                    write_header(out, b"content-type", content_type.as_bytes());
                    write_header(out, b"server", SERVER.as_bytes());
                }
                if let Some(id) = request_id {
                    write_header(out, b"x-request-id", id);
                }
                if has_content_length(status, scratch.len(), head_only) {
                    let mut length = itoa::Buffer::new();
                    write_header(
                        out,
                        b"content-length",
                        length.format(scratch.len()).as_bytes(),
                    );
                }
                out.extend_from_slice(head_end);
                if !head_only
                    && !matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED)
                {
                    out.extend_from_slice(scratch);
                }
            }
        }
        Ok(())
    }

    /// The answer to `GET` or `HEAD` as a hyper response (hyper adds `Content-Length`
    /// and `Date`, and drops the body of a `HEAD` answer).
    fn respond<B>(
        &self,
        request: &http::Request<B>,
    ) -> Result<http::Response<Full<Bytes>>, Panicked> {
        let mut response = match &self.answer {
            Answer::Static { body, headers, .. } => {
                let mut response = http::Response::new(Full::new(body.clone()));
                *response.headers_mut() = headers.clone();
                response
            }
            Answer::Computed(handler) => {
                let mut body = Vec::new();
                let (status, content_type) = self.compute(
                    handler.as_ref(),
                    &FastRequest::from_http(request),
                    &mut body,
                )?;
                let mut response = http::Response::new(Full::new(Bytes::from(body)));
                *response.status_mut() = status;
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_TYPE, content_type);
                headers.insert(header::SERVER, SERVER);
                response
            }
        };
        if let Some(id) = client_id(request.headers()) {
            response.headers_mut().insert(X_REQUEST_ID, id.clone());
        }
        Ok(response)
    }

    /// The axum route: `GET` and `HEAD` answered, other methods `405` with `Allow`.
    pub(crate) fn method_router(&self) -> MethodRouter {
        let route = self.clone();
        get(move |request: Request| {
            let response = match route.respond(&request) {
                Ok(response) => response.into_response(),
                // The stack renders it as its panic guard's `500`.
                Err(Panicked) => internal_error(),
            };
            async move { response }
        })
    }
}

#[track_caller]
fn check_path(path: &str) {
    assert!(
        path.starts_with('/') && !path.contains(|c: char| "{}*?#".contains(c) || c.is_whitespace()),
        "fast route path {path:?} must be a static path starting with '/' \
         (no parameters, wildcards, query or whitespace)"
    );
}

/// Whether hyper writes `content-length` for an answer of `len` bytes: never for `204`
/// and `304`, and not `0` for a `HEAD`.
fn has_content_length(status: StatusCode, len: usize, head_only: bool) -> bool {
    !matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED) && (len > 0 || !head_only)
}

/// `HTTP/1.1 200 OK\r\n`, with the reason hyper writes.
pub(crate) fn write_status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
    out.extend_from_slice(b"\r\n");
}

pub(crate) fn write_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The status line and first headers of a `200` JSON answer, as [`write_status_line`]
/// and [`write_header`] write them.
const JSON_OK_HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nserver: chopin\r\n";

/// Where the `date` line starts, after the line before it.
const DATE_LINE: &[u8] = b"\r\ndate: ";

/// Static bodies of at least this many bytes are sent from the route's shared `Bytes`;
/// smaller ones are copied beside their head, which costs less than one more slice per
/// write.
const SHARED_BODY: usize = 1024;

/// Answers on their way to the socket: heads and small bodies in one buffer, large
/// static bodies as the route's own `Bytes`, never copied per answer.
#[derive(Debug, Default)]
pub(crate) struct Output {
    bytes: Vec<u8>,
    /// Each shared body goes after `bytes[..at]`.
    shared: Vec<(usize, Bytes)>,
    shared_len: usize,
}

impl Output {
    /// Bytes waiting to be written.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.bytes.len() + self.shared_len
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets what was written; keeps the buffer unless a large answer grew it past
    /// `keep` bytes.
    #[inline]
    pub(crate) fn clear(&mut self, keep: usize) {
        if self.bytes.capacity() > keep {
            self.bytes = Vec::new();
        } else {
            self.bytes.clear();
        }
        self.shared.clear();
        self.shared_len = 0;
    }

    /// Frees every buffer of an output already cleared, for an idle connection.
    #[inline]
    pub(crate) fn release(&mut self) {
        debug_assert!(self.is_empty(), "released before it was written");
        self.bytes = Vec::new();
        // Only a connection that was sent a shared body has this one.
        if self.shared.capacity() != 0 {
            self.shared = Vec::new();
        }
    }

    /// Where the next answer starts, for [`Output::close_last`].
    #[inline]
    pub(crate) fn mark(&self) -> usize {
        self.bytes.len()
    }

    /// Marks the last answer, which starts at `start` (its [`Output::mark`]), `connection: close`, as hyper
    /// marks the answer in flight when the server drains: the header goes before the
    /// `date` line, as hyper writes it.
    pub(crate) fn close_last(&mut self, start: usize) {
        const CLOSE: &[u8] = b"connection: close\r\n";
        // Header values hold no line break, so the first one found is the head's.
        let Some(at) = self.bytes[start..]
            .windows(DATE_LINE.len())
            .position(|line| line == DATE_LINE)
        else {
            return;
        };
        let at = start + at + 2;
        self.bytes.splice(at..at, CLOSE.iter().copied());
        for (body_at, _) in &mut self.shared {
            if *body_at >= at {
                *body_at += CLOSE.len();
            }
        }
    }

    /// Gives a released output room for `capacity` bytes.
    #[inline]
    pub(crate) fn prepare(&mut self, capacity: usize) {
        if self.bytes.capacity() == 0 {
            self.bytes.reserve(capacity);
        }
    }

    /// The buffer heads are written into, after everything before.
    #[inline]
    pub(crate) fn head(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    #[inline]
    pub(crate) fn push_head(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    /// Appends a body: a large one is written from its own `Bytes`, not copied.
    #[inline]
    pub(crate) fn push_body(&mut self, body: &Bytes) {
        if body.len() >= SHARED_BODY {
            self.shared.push((self.bytes.len(), body.clone()));
            self.shared_len += body.len();
        } else {
            self.bytes.extend_from_slice(body);
        }
    }

    /// The whole output when it is one buffer: no shared body waits.
    #[inline]
    pub(crate) fn contiguous(&self) -> Option<&[u8]> {
        self.shared.is_empty().then_some(self.bytes.as_slice())
    }

    /// Every piece in order, for one vectored write.
    pub(crate) fn slices(&self) -> Vec<io::IoSlice<'_>> {
        let mut slices = Vec::with_capacity(2 * self.shared.len() + 1);
        let mut from = 0;
        for (at, body) in &self.shared {
            if *at > from {
                slices.push(io::IoSlice::new(&self.bytes[from..*at]));
            }
            slices.push(io::IoSlice::new(body));
            from = *at;
        }
        if self.bytes.len() > from {
            slices.push(io::IoSlice::new(&self.bytes[from..]));
        }
        slices
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

    /// The route registered at exactly `path`.
    pub(crate) fn get(&self, path: &[u8]) -> Option<&FastRoute> {
        let index = self
            .routes
            .binary_search_by(|r| r.path.as_bytes().cmp(path))
            .ok()?;
        self.routes.get(index)
    }

    /// Whether cross-origin requests must go through the CORS middleware.
    pub(crate) fn cors(&self) -> bool {
        self.cors
    }

    /// The response for `request` if a fast route answers it, else `None`.
    pub(crate) fn respond<B>(
        &self,
        request: &http::Request<B>,
    ) -> Option<Result<http::Response<Full<Bytes>>, Panicked>> {
        if !matches!(*request.method(), Method::GET | Method::HEAD)
            || (self.cors && request.headers().contains_key(header::ORIGIN))
        {
            return None;
        }
        Some(self.get(request.uri().path().as_bytes())?.respond(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(output: &Output) -> String {
        let bytes: Vec<u8> = output.slices().iter().flat_map(|s| s.to_vec()).collect();
        String::from_utf8(bytes).expect("ASCII")
    }

    #[test]
    fn the_last_answer_is_marked_close_before_its_date_line_and_its_shared_body_follows() {
        let small = FastRoute::text("/small", "date: not a header");
        let large = FastRoute::text("/large", "x".repeat(SHARED_BODY));
        let request = FastRequest::parsed("GET", "/", None, &[]);
        let (mut output, mut scratch) = (Output::default(), Vec::new());
        let head_end = b"date: D\r\n\r\n";
        for route in [&small, &large] {
            let start = output.mark();
            route
                .write_to(&mut output, &mut scratch, &request, Some(b"id"), head_end)
                .expect("no panic");
            if route.path == "/large" {
                output.close_last(start);
            }
        }
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\n\
                    server: chopin\r\nx-request-id: id\r\n";
        assert_eq!(
            whole(&output),
            format!(
                "{head}content-length: 18\r\ndate: D\r\n\r\ndate: not a header\
                 {head}content-length: 1024\r\nconnection: close\r\ndate: D\r\n\r\n{}",
                "x".repeat(SHARED_BODY)
            )
        );
        assert_eq!(output.len(), whole(&output).len());
    }
}
