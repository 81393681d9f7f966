//! The fast lane's way to the router: a request head the lane parsed becomes an
//! `http::Request` without hyper, goes through the same service as hyper's requests
//! (the router inside the whole default stack) and its response is written into the
//! lane's output the way hyper writes it, so pipelined router answers leave with the
//! batch in one write.
//!
//! The lane takes a request here when hyper would do nothing with it but parse it and
//! call the service: HTTP/1.1, an origin-form target, one valid `Host`, no
//! `Transfer-Encoding`, `Expect` or `Upgrade`, no `Connection` other than `keep-alive`,
//! and a body, if any, whose `Content-Length` bytes are already read. Anything else
//! (chunked or unread bodies, upgrades, HTTP/1.0) goes to hyper, with the bytes not yet
//! consumed, as before.
//!
//! Framing follows hyper's server encoder (`hyper::proto::h1::role`): the status line,
//! the response's headers in order, `content-length` from the body's exact size or
//! `transfer-encoding: chunked` when it has none, no body for `HEAD`, `204` and `304`,
//! and hyper's `date` line.

use std::{net::SocketAddr, ops::Range};

use axum::{
    body::{Body, HttpBody},
    extract::ConnectInfo,
};
use bytes::Bytes;
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, Version, header,
};

use crate::{
    fast_route::{self, Output, write_header},
    middleware::{Lines, X_REQUEST_ID, next_request_id},
};

/// How a response's body is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Framing {
    /// Exactly this many bytes follow the head (none for `HEAD`, `204`, `304`).
    Length(u64),
    /// Chunked: each data frame a chunk, then the last chunk.
    Chunked,
}

/// A response head hyper refuses to write (a `1xx` status, contradicting or invalid
/// `content-length` values): hyper answers `500` and closes the connection.
#[derive(Debug)]
pub(super) struct Refused;

/// Where the parts of a router request's head are in its bytes, recorded as the lane
/// parsed it, so it is not parsed again.
#[derive(Debug, Default)]
pub(super) struct Spans {
    pub(super) method: Range<usize>,
    pub(super) target: Range<usize>,
    /// The client's `x-request-id`, if it sent exactly one the stack would keep.
    pub(super) id: Option<Range<usize>>,
    /// Each header's name and value.
    pub(super) headers: Vec<(Range<usize>, Range<usize>)>,
}

impl Spans {
    /// Records `request`, parsed from `base`.
    pub(super) fn record(
        &mut self,
        base: &[u8],
        request: &httparse::Request<'_, '_>,
        id: Option<&[u8]>,
    ) {
        let at = |part: &[u8]| {
            let start = part.as_ptr() as usize - base.as_ptr() as usize;
            start..start + part.len()
        };
        self.method = at(request.method.unwrap_or_default().as_bytes());
        self.target = at(request.path.unwrap_or_default().as_bytes());
        self.id = id.map(at);
        self.headers.clear();
        for header in request.headers.iter() {
            self.headers
                .push((at(header.name.as_bytes()), at(header.value)));
        }
    }

    /// Frees what an idle connection does not need.
    pub(super) fn release(&mut self) {
        self.headers = Vec::new();
    }
}

/// The request whose head, recorded in `spans`, starts `bytes` and is followed by its
/// body (empty or its `Content-Length` bytes), from `peer`; and its request id: the
/// client's if the stack would keep it, else a fresh one, in `x-request-id` for the stack
/// and the handler. `None` when hyper would refuse something in it (the method, the
/// target, a header), so hyper must answer it.
pub(super) fn request(
    bytes: &Bytes,
    head: usize,
    spans: &Spans,
    peer: Option<SocketAddr>,
) -> Option<(Request<Body>, HeaderValue)> {
    let method = Method::from_bytes(&bytes[spans.method.clone()]).ok()?;
    let uri = Uri::from_maybe_shared(bytes.slice(spans.target.clone())).ok()?;
    // Room for the id too: no growing the map for it.
    let mut map = HeaderMap::with_capacity(spans.headers.len() + 1);
    for (name, value) in &spans.headers {
        let name = HeaderName::from_bytes(&bytes[name.clone()]).ok()?;
        if name == X_REQUEST_ID {
            // Only the one kept goes in, below, as the stack would replace the others.
            continue;
        }
        // Shares the read buffer, as hyper's own headers do: no copy per value.
        let value = HeaderValue::from_maybe_shared(bytes.slice(value.clone())).ok()?;
        map.append(name, value);
    }
    let id = match &spans.id {
        Some(id) => HeaderValue::from_maybe_shared(bytes.slice(id.clone())).ok()?,
        None => next_request_id(),
    };
    map.insert(X_REQUEST_ID, id.clone());
    let body = bytes.slice(head..);
    let mut request = Request::new(if body.is_empty() {
        Body::empty()
    } else {
        Body::from(body)
    });
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_11;
    *request.headers_mut() = map;
    if let Some(peer) = peer {
        request.extensions_mut().insert(ConnectInfo(peer));
    }
    Some((request, id))
}

/// What the server adds to each router answer: the security headers for the request's
/// path and its request id.
#[derive(Clone, Copy, Debug)]
pub(super) struct Stamp<'a> {
    pub(super) lines: &'static Lines,
    pub(super) id: &'a [u8],
}

/// Appends `response`'s head to `out` as hyper writes it for a request with `method`;
/// `head_end` is the `date` line and the blank line. Returns how the body follows and
/// whether the connection ends after it (`connection: close`).
pub(super) fn write_head(
    out: &mut Vec<u8>,
    response: &Response<Body>,
    method: &Method,
    stamp: Option<Stamp<'_>>,
    head_end: &[u8],
) -> Result<(Framing, bool), Refused> {
    let status = response.status();
    if status.is_informational() {
        return Err(Refused);
    }
    let head_only = *method == Method::HEAD;
    let no_body = matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED);
    let can_have_body = !head_only && !no_body;
    let can_have_length = !no_body;
    let body = response.body();
    // hyper's `BodyLength`: `None` for a body already at its end.
    let length = if body.is_end_stream() {
        None
    } else {
        Some(body.size_hint().exact())
    };

    let start = out.len();
    write_status_line(out, response);
    // The stack's order: the security headers, each with the response's own value if
    // it set one, then the response's other headers, then the request id.
    // Which of them the response set, and whether it set an id: usually neither, and
    // then its headers are written without looking them up.
    let (mut own, mut has_id) = (0u32, false);
    if let Some(stamp) = stamp {
        for name in response.headers().keys() {
            if let Some(at) = stamp.lines.position(name) {
                own |= 1 << at;
            }
            has_id |= *name == X_REQUEST_ID;
        }
        for (at, (name, line)) in stamp.lines.entries().iter().enumerate() {
            if own & (1 << at) == 0 {
                out.extend_from_slice(line);
            } else {
                for value in response.headers().get_all(name) {
                    write_header(out, name.as_str().as_bytes(), value.as_bytes());
                }
            }
        }
    }
    let mut wrote_id = false;
    let mut framing = Framing::Length(0);
    let mut wrote_length = false;
    let mut wrote_date = false;
    let mut close = false;
    // A joined line (`content-length`, `transfer-encoding`, `connection`, `trailer`)
    // still open: values of one name go on one line, comma-separated, as hyper writes
    // them.
    let mut open: Option<&HeaderName> = None;
    let mut chunked_last = true;
    let mut length_value: Option<u64> = None;
    for (name, value) in response.headers() {
        if open.is_some_and(|open| open != name) {
            end_line(out, &mut open, chunked_last);
        }
        if own != 0
            && let Some(stamp) = stamp
            && stamp.lines.position(name).is_some()
        {
            continue;
        }
        if has_id
            && let Some(stamp) = stamp
            && *name == X_REQUEST_ID
        {
            // The stack's id replaces the response's, in its place.
            if !wrote_id {
                write_header(out, name.as_str().as_bytes(), stamp.id);
                wrote_id = true;
            }
            continue;
        }
        let joined = open == Some(name);
        match *name {
            header::CONTENT_LENGTH => match length {
                Some(Some(known)) => {
                    if !joined {
                        out.extend_from_slice(b"content-length: ");
                        out.extend_from_slice(value.as_bytes());
                        open = Some(name);
                        framing = Framing::Length(known);
                        wrote_length = true;
                    }
                    continue;
                }
                Some(None) => {
                    let Some(parsed) = parse_length(value.as_bytes()) else {
                        out.truncate(start);
                        return Err(Refused);
                    };
                    match length_value {
                        Some(previous) if previous != parsed => {
                            out.truncate(start);
                            return Err(Refused);
                        }
                        Some(_) => {}
                        None => {
                            out.extend_from_slice(b"content-length: ");
                            out.extend_from_slice(value.as_bytes());
                            open = Some(name);
                            framing = Framing::Length(parsed);
                            wrote_length = true;
                            length_value = Some(parsed);
                        }
                    }
                    continue;
                }
                // No body: the header stays only on a `HEAD` answer.
                None if head_only => wrote_length = true,
                None => continue,
            },
            header::TRANSFER_ENCODING => {
                if !can_have_body {
                    continue;
                }
                wrote_length = true;
                chunked_last = is_chunked(value.as_bytes());
                join(out, &mut open, name, joined, b"transfer-encoding: ", value);
                framing = Framing::Chunked;
                continue;
            }
            header::CONNECTION => {
                close |= has_close(value.as_bytes());
                join(out, &mut open, name, joined, b"connection: ", value);
                continue;
            }
            header::TRAILER => {
                if !can_have_body {
                    continue;
                }
                join(out, &mut open, name, joined, b"trailer: ", value);
                continue;
            }
            header::DATE => wrote_date = true,
            _ => {}
        }
        write_header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    end_line(out, &mut open, chunked_last);
    if let Some(stamp) = stamp
        && !wrote_id
    {
        write_header(out, X_REQUEST_ID.as_str().as_bytes(), stamp.id);
    }

    if !wrote_length {
        framing = match length {
            Some(None) if can_have_body => {
                out.extend_from_slice(b"transfer-encoding: chunked\r\n");
                Framing::Chunked
            }
            Some(None) => Framing::Length(0),
            None | Some(Some(0)) => {
                if can_have_length && !head_only {
                    out.extend_from_slice(b"content-length: 0\r\n");
                }
                Framing::Length(0)
            }
            Some(Some(known)) => {
                if can_have_length {
                    out.extend_from_slice(b"content-length: ");
                    out.extend_from_slice(itoa::Buffer::new().format(known).as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
                Framing::Length(if can_have_length { known } else { 0 })
            }
        };
    }
    if !can_have_body {
        framing = Framing::Length(0);
    }
    if wrote_date {
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(head_end);
    }
    Ok((framing, close))
}

/// What hyper writes when it refuses a response head: a bare `500`, and the connection
/// closes after it.
pub(super) fn write_refused(out: &mut Vec<u8>, head_end: &[u8]) {
    out.extend_from_slice(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n");
    out.extend_from_slice(head_end);
}

/// Appends a data frame of a body framed by `framing`.
pub(super) fn write_data(output: &mut Output, framing: Framing, data: &Bytes) {
    if data.is_empty() {
        return;
    }
    match framing {
        Framing::Length(_) => output.push_body(data),
        Framing::Chunked => {
            let mut size = [0u8; 16 + 2];
            let len = chunk_size(&mut size, data.len());
            output.push_head(&size[..len]);
            output.push_body(data);
            output.push_head(b"\r\n");
        }
    }
}

/// Ends a body framed by `framing`: the last chunk of a chunked one.
pub(super) fn write_end(output: &mut Output, framing: Framing) {
    if framing == Framing::Chunked {
        output.push_head(b"0\r\n\r\n");
    }
}

/// `{len:X}\r\n` into `buf`, as hyper writes chunk sizes; returns its length.
fn chunk_size(buf: &mut [u8; 18], len: usize) -> usize {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let digits = (usize::BITS as usize / 4 - len.leading_zeros() as usize / 4).max(1);
    for (i, byte) in buf[..digits].iter_mut().enumerate() {
        *byte = HEX[(len >> (4 * (digits - 1 - i))) & 0xf];
    }
    buf[digits] = b'\r';
    buf[digits + 1] = b'\n';
    digits + 2
}

fn write_status_line(out: &mut Vec<u8>, response: &Response<Body>) {
    let status = response.status();
    match response.extensions().get::<hyper::ext::ReasonPhrase>() {
        None if status == StatusCode::OK => out.extend_from_slice(b"HTTP/1.1 200 OK\r\n"),
        None => fast_route::write_status_line(out, status),
        Some(reason) => {
            out.extend_from_slice(b"HTTP/1.1 ");
            out.extend_from_slice(status.as_str().as_bytes());
            out.push(b' ');
            out.extend_from_slice(reason.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Starts `name`'s line, or adds `value` to it when it is open.
fn join<'h>(
    out: &mut Vec<u8>,
    open: &mut Option<&'h HeaderName>,
    name: &'h HeaderName,
    joined: bool,
    prefix: &[u8],
    value: &HeaderValue,
) {
    if joined {
        out.extend_from_slice(b", ");
    } else {
        out.extend_from_slice(prefix);
        *open = Some(name);
    }
    out.extend_from_slice(value.as_bytes());
}

/// Ends an open joined line; a `transfer-encoding` whose last coding is not `chunked`
/// gets it, as hyper adds it.
fn end_line(out: &mut Vec<u8>, open: &mut Option<&HeaderName>, chunked_last: bool) {
    if let Some(name) = open.take() {
        if *name == header::TRANSFER_ENCODING && !chunked_last {
            out.extend_from_slice(b", chunked\r\n");
        } else {
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// A `Content-Length` value: digits only, as hyper reads it.
pub(super) fn parse_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Whether the last coding of a `transfer-encoding` value is `chunked`.
fn is_chunked(value: &[u8]) -> bool {
    value
        .rsplit(|&b| b == b',')
        .next()
        .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

/// Whether a `connection` value has the `close` option.
fn has_close(value: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|option| option.trim_ascii().eq_ignore_ascii_case(b"close"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(response: Response<Body>, method: Method) -> (String, Framing, bool) {
        let mut out = Vec::new();
        let (framing, close) =
            write_head(&mut out, &response, &method, None, b"date: D\r\n\r\n").expect("written");
        (String::from_utf8(out).expect("ASCII"), framing, close)
    }

    #[test]
    fn heads_are_framed_as_hyper_frames_them() {
        let full = || Response::new(Body::from("hello"));
        assert_eq!(
            head(full(), Method::GET),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ndate: D\r\n\r\n".to_owned(),
                Framing::Length(5),
                false
            )
        );
        // `HEAD`: the length of the `GET` answer, no body.
        assert_eq!(head(full(), Method::HEAD).1, Framing::Length(0));
        let mut no_content = Response::new(Body::empty());
        *no_content.status_mut() = StatusCode::NO_CONTENT;
        assert_eq!(
            head(no_content, Method::GET).0,
            "HTTP/1.1 204 No Content\r\ndate: D\r\n\r\n"
        );
        let mut empty = Response::new(Body::empty());
        empty
            .headers_mut()
            .append(header::CONNECTION, HeaderValue::from_static("close"));
        assert_eq!(
            head(empty, Method::POST),
            (
                "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\ndate: D\r\n\r\n"
                    .to_owned(),
                Framing::Length(0),
                true
            )
        );
        let stream = Body::from_stream(futures_util::stream::iter([Ok::<_, std::io::Error>(
            Bytes::from("x"),
        )]));
        let mut streamed = Response::new(stream);
        *streamed.status_mut() = StatusCode::from_u16(599).expect("valid");
        assert_eq!(
            head(streamed, Method::GET),
            (
                "HTTP/1.1 599 <none>\r\ntransfer-encoding: chunked\r\ndate: D\r\n\r\n".to_owned(),
                Framing::Chunked,
                false
            )
        );
    }

    #[test]
    fn chunk_sizes_are_upper_case_hex() {
        let mut buf = [0; 18];
        for (len, text) in [
            (0, "0\r\n"),
            (10, "A\r\n"),
            (255, "FF\r\n"),
            (4096, "1000\r\n"),
        ] {
            let n = chunk_size(&mut buf, len);
            assert_eq!(&buf[..n], text.as_bytes());
        }
    }
}
