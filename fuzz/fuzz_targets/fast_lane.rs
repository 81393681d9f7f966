//! Arbitrary byte streams, split into arbitrary writes, sent over loopback to the code
//! that serves connections (HTTP/2 sniffing, the fast lane, hyper, the router): it
//! never panics or hangs; how the stream is split changes nothing the client receives
//! (`Date` and generated request ids masked); every answer is a complete HTTP/1.1
//! response; the answers follow the stream's requests one to one, in order, fast
//! routes with their body (none for `HEAD`); and the fast lane never holds more than
//! one batch plus one answer.
//!
//! The requests are read with httparse as far as the target can frame them exactly as
//! hyper does (HTTP/1.1, `Content-Length` or a plain `chunked` body); past a request it
//! cannot frame, the answers are only required to be complete and split-independent up
//! to there.

#![no_main]

use chopin_core::fuzzing::{BATCH_LIMIT, ECHO, ROUTES, serve};
use libfuzzer_sys::fuzz_target;

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fuzz_target!(|input: (Vec<u8>, Vec<u8>)| {
    let (stream, cuts) = input;
    let mut chunks = Vec::new();
    let mut rest = &stream[..];
    for &cut in &cuts {
        let (chunk, after) = rest.split_at((cut as usize).min(rest.len()));
        chunks.push(chunk);
        rest = after;
    }
    chunks.push(rest);

    let whole = serve(&[&stream]);
    let split = serve(&chunks);
    if stream.starts_with(H2_PREFACE) {
        // HTTP/2 is hyper's own: only that it neither panics nor hangs.
        return;
    }

    let requests = Requests::parse(&stream);
    let whole_answers = answers(&requests, &whole.received, &stream);
    let split_answers = answers(&requests, &split.received, &stream);
    for (served, answers) in [(&whole, &whole_answers), (&split, &split_answers)] {
        in_order(&requests, answers);
        // The answer that crossed the limit is one the fast lane wrote: a fast route's
        // or the router's.
        let largest = answers
            .iter()
            .map(|a| a.len)
            .max()
            .unwrap_or(0);
        assert!(
            served.peak_pending < BATCH_LIMIT + largest,
            "the fast lane held {} bytes of answers (limit {BATCH_LIMIT} + {largest})",
            served.peak_pending
        );
    }
    same(&requests, &whole_answers, &split_answers);
});

/// A request as hyper frames it.
#[derive(Debug)]
struct Request {
    method: String,
    /// An origin-form target's path, without its query.
    path: Option<String>,
    /// Whether a body follows the head (`Content-Length` above 0, or `chunked`).
    has_body: bool,
    /// The body's length, decoded.
    body_len: usize,
    /// The stream ends inside its body.
    truncated: bool,
    /// hyper closes after answering it (`Connection: close`, or both
    /// `Transfer-Encoding` and `Content-Length`).
    closes: bool,
}

impl Request {
    /// Whether the connection may end after `answer`: hyper drains a body its handler
    /// left unread only as far as it has already arrived, and otherwise closes.
    fn may_end_after(&self, answer: &Answer) -> bool {
        let read =
            self.method == "POST" && self.path.as_deref() == Some(ECHO) && answer.status == 200;
        self.closes
            || self.truncated
            || (self.has_body && !read)
            || (400..500).contains(&answer.status)
    }

    fn route_body(&self) -> Option<&'static [u8]> {
        let path = self.path.as_deref()?;
        ROUTES
            .iter()
            .find(|(route, _)| *route == path)
            .map(|(_, body)| *body)
    }
}

/// Where reading the stream's requests stopped.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// At its end, or at a request after which nothing is answered (one that closes
    /// the connection, or whose body the stream ends inside).
    Exhausted,
    /// In a request head that is incomplete or malformed: hyper may refuse it with a
    /// 4xx, and answers nothing after.
    Refused,
    /// At a request this target does not frame; what follows is not checked.
    Unknown,
}

#[derive(Debug)]
struct Requests {
    list: Vec<Request>,
    end: End,
}

impl Requests {
    fn parse(mut rest: &[u8]) -> Self {
        let mut list = Vec::new();
        let end = loop {
            if rest.is_empty() {
                break End::Exhausted;
            }
            match Self::one(rest) {
                Ok((request, len)) => {
                    let stop = request.truncated || request.closes;
                    list.push(request);
                    rest = &rest[len..];
                    if stop {
                        // Nothing after it is answered.
                        break End::Exhausted;
                    }
                }
                Err(end) => break end,
            }
        };
        Self { list, end }
    }

    /// The request at the front of `bytes` and its length.
    fn one(bytes: &[u8]) -> Result<(Request, usize), End> {
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut parsed = httparse::Request::new(&mut headers);
        let head = match parsed.parse(bytes) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) | Err(_) => return Err(End::Refused),
        };
        if parsed.version != Some(1) {
            // HTTP/1.0's keep-alive rules are not modelled.
            return Err(End::Unknown);
        }
        let (mut lengths, mut encodings, mut close) = (Vec::new(), Vec::new(), false);
        for header in parsed.headers.iter() {
            let name = header.name;
            if name.eq_ignore_ascii_case("content-length") {
                lengths.push(header.value);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                encodings.push(header.value);
            } else if name.eq_ignore_ascii_case("connection") {
                // hyper reads a value only if it is visible ASCII.
                let Ok(value) = std::str::from_utf8(header.value) else {
                    return Err(End::Unknown);
                };
                if !value
                    .bytes()
                    .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
                {
                    return Err(End::Unknown);
                }
                close |= value
                    .split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("close"));
            }
        }
        let body = &bytes[head..];
        let (has_body, body_len, framed, truncated) = match (&encodings[..], &lengths[..]) {
            ([], []) => (false, 0, 0, false),
            ([], lengths) => {
                let mut values = lengths.iter().map(|v| digits(v));
                let first = values.next().flatten().ok_or(End::Refused)?;
                if !values.all(|v| v == Some(first)) {
                    // hyper's 400 for an invalid or disagreeing Content-Length.
                    return Err(End::Refused);
                }
                let len = usize::try_from(first).map_err(|_| End::Unknown)?;
                (len > 0, len, len.min(body.len()), len > body.len())
            }
            ([chunked], _) if chunked.eq_ignore_ascii_case(b"chunked") => {
                let (decoded, framed, truncated) = chunked_body(body)?;
                (true, decoded, framed, truncated)
            }
            _ => return Err(End::Unknown),
        };
        let target = parsed.path.unwrap_or_default();
        Ok((
            Request {
                method: parsed.method.unwrap_or_default().to_owned(),
                path: target
                    .starts_with('/')
                    .then(|| target.split('?').next().unwrap_or_default().to_owned()),
                has_body,
                body_len,
                truncated,
                closes: close || (!encodings.is_empty() && !lengths.is_empty()),
            },
            head + framed,
        ))
    }
}

/// A `Content-Length` as hyper reads it: digits only.
fn digits(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// A chunked body of hex sizes, data and CRLFs only, no extensions or trailers:
/// (decoded length, framed length, truncated). Anything else is not framed here.
fn chunked_body(body: &[u8]) -> Result<(usize, usize, bool), End> {
    let (mut at, mut decoded) = (0, 0);
    loop {
        let rest = &body[at..];
        let Some(line) = rest.iter().position(|&b| !b.is_ascii_hexdigit()) else {
            return Ok((decoded, body.len(), true));
        };
        if line == 0 || line > 8 {
            return Err(End::Unknown);
        }
        let size = usize::from_str_radix(
            std::str::from_utf8(&rest[..line]).map_err(|_| End::Unknown)?,
            16,
        )
        .map_err(|_| End::Unknown)?;
        // The size line's CRLF; after the last chunk, the empty trailer section's too.
        let end: &[u8] = if size == 0 { b"\r\n\r\n" } else { b"\r\n" };
        let after_line = &rest[line..];
        if after_line.len() < end.len() {
            return if end.starts_with(after_line) {
                Ok((decoded, body.len(), true))
            } else {
                Err(End::Unknown)
            };
        }
        if !after_line.starts_with(end) {
            return Err(End::Unknown);
        }
        at += line + end.len();
        if size == 0 {
            return Ok((decoded, at, false));
        }
        let data = &body[at..];
        if data.len() < size + 2 {
            let tail = data.get(size..).unwrap_or_default();
            return if b"\r\n".starts_with(tail) {
                Ok((decoded + size.min(data.len()), body.len(), true))
            } else {
                Err(End::Unknown)
            };
        }
        if &data[size..size + 2] != b"\r\n" {
            return Err(End::Unknown);
        }
        decoded += size;
        at += size + 2;
    }
}

/// One final answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Vec<u8>,
    /// Its length on the wire.
    len: usize,
    /// Whether it says `Connection: close`.
    closes: bool,
    /// The answer without `Connection`, with `Date`, `Content-Length` and generated
    /// request ids masked.
    masked: Vec<u8>,
}

/// The answers in `received`, paired with the stream's requests, as far as those are
/// framed; every one complete.
fn answers(requests: &Requests, mut received: &[u8], input: &[u8]) -> Vec<Answer> {
    let mut answers = Vec::new();
    while !received.is_empty() {
        let request = requests.list.get(answers.len());
        if request.is_none() && requests.end == End::Unknown {
            break;
        }
        let head_only = request.is_some_and(|r| r.method == "HEAD");
        let (answer, len) = match parse_answer(received, head_only, input) {
            Ok(parsed) => parsed,
            Err(err) => panic!(
                "answer {} is not a complete HTTP/1.1 response ({err}): {:?}",
                answers.len(),
                String::from_utf8_lossy(received)
            ),
        };
        received = &received[len..];
        // An interim `100 Continue`.
        if answer.status >= 200 {
            answers.push(answer);
        }
    }
    answers
}

fn parse_answer(
    bytes: &[u8],
    head_only: bool,
    input: &[u8],
) -> Result<(Answer, usize), &'static str> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Err("incomplete head"),
        Err(_) => return Err("malformed head"),
    };
    if response.version != Some(1) {
        return Err("not HTTP/1.1");
    }
    let status = response.code.ok_or("no status")?;
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let (body, framed) = if head_only || status < 200 || status == 204 || status == 304 {
        (Vec::new(), 0)
    } else if header("transfer-encoding").is_some() {
        match chunked_body(&bytes[head..]) {
            Ok((_, framed, false)) => (dechunk(&bytes[head..head + framed]), framed),
            _ => return Err("an incomplete or malformed chunked body"),
        }
    } else if let Some(length) = header("content-length") {
        let length = digits(length).ok_or("a malformed content-length")? as usize;
        let body = bytes.get(head..head + length).ok_or("a truncated body")?;
        (body.to_vec(), length)
    } else {
        (bytes[head..].to_vec(), bytes.len() - head)
    };

    let (mut generated, mut closes) = (Vec::new(), false);
    let mut masked = format!("{status} {}\r\n", response.reason.unwrap_or_default()).into_bytes();
    for h in response.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            closes |= h.value.eq_ignore_ascii_case(b"close");
            continue;
        }
        masked.extend_from_slice(h.name.to_ascii_lowercase().as_bytes());
        masked.extend_from_slice(b": ");
        let value: &[u8] = match h.name.to_ascii_lowercase().as_str() {
            "date" => b"<date>",
            "content-length" => b"<length>",
            "x-request-id" if is_generated(h.value, input) => {
                generated.push(h.value);
                b"<id>"
            }
            _ => h.value,
        };
        masked.extend_from_slice(value);
        masked.extend_from_slice(b"\r\n");
    }
    masked.extend_from_slice(b"\r\n");
    masked.extend_from_slice(&mask(&body, &generated));
    Ok((
        Answer {
            status,
            body,
            len: head + framed,
            closes,
            masked,
        },
        head + framed,
    ))
}

fn dechunk(mut framed: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line = framed
            .iter()
            .position(|&b| b == b'\r')
            .unwrap_or(framed.len());
        let size = std::str::from_utf8(&framed[..line])
            .ok()
            .and_then(|s| usize::from_str_radix(s, 16).ok())
            .unwrap_or(0);
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&framed[line + 2..line + 2 + size]);
        framed = &framed[line + 2 + size + 2..];
    }
}

/// An id the server made up (`{16 hex}-{hex}`), as opposed to the client's, echoed.
fn is_generated(value: &[u8], input: &[u8]) -> bool {
    value.len() > 17
        && value[16] == b'-'
        && value
            .iter()
            .enumerate()
            .all(|(i, b)| i == 16 || b.is_ascii_hexdigit())
        && !input.windows(value.len()).any(|w| w == value)
}

fn mask(body: &[u8], ids: &[&[u8]]) -> Vec<u8> {
    let mut masked = body.to_vec();
    for id in ids {
        let mut out = Vec::with_capacity(masked.len());
        let mut rest = &masked[..];
        while let Some(at) = rest.windows(id.len()).position(|w| w == *id) {
            out.extend_from_slice(&rest[..at]);
            out.extend_from_slice(b"<id>");
            rest = &rest[at + id.len()..];
        }
        out.extend_from_slice(rest);
        masked = out;
    }
    masked
}

/// The answers follow the requests one to one, in order, until the connection may end.
fn in_order(requests: &Requests, answers: &[Answer]) {
    for (i, answer) in answers.iter().enumerate() {
        let last = i + 1 == answers.len();
        let Some(request) = requests.list.get(i) else {
            // Past the requests the stream holds: only hyper's refusal of the next head.
            assert_eq!(requests.end, End::Refused, "answer {i} has no request");
            assert!(last, "answers after refusing request {i}");
            assert!(
                (400..500).contains(&answer.status),
                "request {i} refused with {}",
                answer.status
            );
            continue;
        };
        assert!(
            answer.status < 500,
            "request {i} ({request:?}) answered {}",
            answer.status
        );
        if answer.status == 200 {
            if let Some(body) = request
                .route_body()
                .filter(|_| ["GET", "HEAD"].contains(&request.method.as_str()))
            {
                let expected: &[u8] = if request.method == "HEAD" { b"" } else { body };
                assert!(
                    answer.body == expected,
                    "request {i} ({request:?}) answered another route's body"
                );
            } else if request.method == "POST" && request.path.as_deref() == Some(ECHO) {
                assert_eq!(
                    answer.body,
                    request.body_len.to_string().as_bytes(),
                    "request {i} ({request:?})"
                );
            }
        } else if request.route_body().is_some()
            && ["GET", "HEAD"].contains(&request.method.as_str())
        {
            // A bad `Host`, or hyper refusing the head.
            assert!(
                (400..500).contains(&answer.status),
                "request {i} ({request:?}) answered {}",
                answer.status
            );
        }
        if answer.closes {
            assert!(
                last,
                "answer {i} closes the connection, yet more answers came"
            );
        }
        if request.closes {
            assert!(
                last,
                "answered past request {i}, which closes the connection"
            );
        }
    }
    if answers.len() < requests.list.len() {
        let unanswered = answers.len();
        let ended = unanswered
            .checked_sub(1)
            .is_some_and(|i| requests.list[i].may_end_after(&answers[i]));
        let optional = unanswered + 1 == requests.list.len() && requests.list[unanswered].truncated;
        assert!(
            ended || optional,
            "request {unanswered} ({:?}) got no answer",
            requests.list[unanswered]
        );
    }
}

/// Splitting the stream changes nothing the client receives, except where hyper's
/// reading depends on what has arrived: it may close earlier after an answer whose
/// request body was still arriving, and once part of a head has arrived it parses the
/// head again only when a blank line arrives, so a malformed head that arrived in
/// pieces without one is not refused with a 400 (the connection just closes). An
/// answer written before its request's body arrived whole says `Connection: close`.
fn same(requests: &Requests, whole: &[Answer], split: &[Answer]) {
    for (i, (w, s)) in whole.iter().zip(split).enumerate() {
        assert!(
            w.closes == s.closes || requests.list.get(i).is_some_and(|r| r.has_body),
            "splitting the stream changed whether answer {i} closes the connection"
        );
        assert!(
            w.masked == s.masked,
            "splitting the stream changed answer {i}:\n{}\n---\n{}",
            String::from_utf8_lossy(&w.masked),
            String::from_utf8_lossy(&s.masked)
        );
    }
    if whole.len() != split.len() {
        let shorter = if whole.len() < split.len() {
            whole
        } else {
            split
        };
        let unread_body = shorter.len().checked_sub(1).is_some_and(|i| {
            requests
                .list
                .get(i)
                .is_some_and(|r| r.may_end_after(&shorter[i]) && r.has_body)
        });
        let unrefused = requests.end == End::Refused && shorter.len() == requests.list.len();
        let ended = unread_body || unrefused;
        assert!(
            ended,
            "splitting the stream changed how many answers came: {} whole, {} split",
            whole.len(),
            split.len()
        );
    }
}
