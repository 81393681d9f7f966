//! Performance mode's fast lane: every HTTP/1 connection starts in this loop, which reads
//! into one buffer, parses request heads with `httparse` (hyper's own parser) and, while
//! the requests are ones it owns, appends each answer to one output that leaves in one
//! write per read: 16 pipelined requests cost one `write`. The output is bounded as
//! hyper's path is ([`BATCH_LIMIT`]): once that much waits, the lane writes it before
//! parsing the next request, so a client that pipelines without reading holds at most
//! one batch. Large bodies are written from their own `Bytes`, not copied.
//!
//! It answers two kinds of requests itself:
//! - a fast route's, when standard mode would answer it from the fast route with
//!   nothing else to decide: `GET` or `HEAD`, HTTP/1.1, a valid `Host`, no body, no
//!   `Expect`, no `Upgrade`, no `Connection` other than `keep-alive`, no `Origin` when
//!   CORS is configured;
//! - a router request hyper would only parse and pass on ([`router_lane`]): it builds
//!   the `http::Request`, calls the same service hyper calls (the router inside the
//!   whole default stack) and writes the answer as hyper would. While a handler or a
//!   streaming body waits, what is already answered is written.
//!
//! At the first request it does not own (a malformed or oversized head, a chunked or
//! unread body, an upgrade, HTTP/1.0) it writes what it has answered and hands the
//! connection, with every byte not yet consumed, to hyper serving the router, which
//! answers from there: the answers stay in order and no byte is read twice or lost.
//!
//! Between requests an idle connection keeps no buffer: both are released while it
//! waits, so ten thousand idle connections cost their tasks and sockets only.

use std::{
    io::{self, IoSlice},
    mem::MaybeUninit,
    pin::{Pin, pin},
    sync::{Arc, Weak},
    task::Poll,
    time::{Duration, Instant},
};

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::rt::{Sleep, Timer};
use tokio::net::TcpStream;

use super::{
    BATCH_LIMIT, KEEP_BUFFER, date,
    drain::{Cut, Draining, ForceClose},
    io::linger,
    router_lane::{self, Framing, Stamp},
    service::{self, AppService, ChopinService},
};
use crate::{
    fast_route::{FastRequest, FastRoute, FastRoutes, Output},
    middleware::{Lines, request_id, valid_hosts},
};

/// Headers parsed per request; a request with more goes to hyper (which allows 100).
const MAX_HEADERS: usize = 32;

/// What a read buffer starts with: one page holds most pipelines of small requests.
const READ_BUFFER: usize = 4096;

/// What the answers to one read start with room for: 16 pipelined small answers.
const WRITE_BUFFER: usize = 4096;

/// Longest request target hyper accepts; a longer one gets its `414`.
const MAX_URI_LEN: usize = u16::MAX as usize - 1;

/// Longest `Host` remembered as valid per connection.
const KNOWN_HOST: usize = 255;

/// The most output the lane held before one write, for the fuzz target's bound check.
#[cfg(feature = "fuzzing")]
pub(crate) mod peak_output {
    use std::cell::Cell;

    thread_local! {
        static PEAK: Cell<usize> = const { Cell::new(0) };
    }

    pub(crate) fn record(len: usize) {
        PEAK.set(PEAK.get().max(len));
    }

    /// The peak since the last call, which starts it again.
    pub(crate) fn take() -> usize {
        PEAK.replace(0)
    }
}

/// What the fast lane keeps for one connection besides its read buffer.
#[derive(Debug, Default)]
pub(crate) struct Buffers {
    /// Answers waiting for the next write.
    pub(crate) out: Output,
    /// A computed route's body.
    body: Vec<u8>,
    /// The last `Host` found valid: a client repeats it on every request, and
    /// comparing costs a fraction of validating it again.
    host: Vec<u8>,
    /// Where the parts of the router request being answered are.
    spans: router_lane::Spans,
}

impl Buffers {
    /// Frees what an idle connection does not need (the host is a few bytes).
    #[inline]
    fn release(&mut self) {
        self.out.release();
        self.body = Vec::new();
        self.spans.release();
    }

    /// Forgets written answers; a buffer a large answer grew is freed, not kept for
    /// the life of the connection.
    #[inline]
    fn written(&mut self) {
        self.out.clear(KEEP_BUFFER);
        if self.body.capacity() > KEEP_BUFFER {
            self.body = Vec::new();
        }
    }
}

/// Which way a parsed request goes.
enum Lane<'r> {
    /// A fast route answers it here.
    Fast(Owned<'r>),
    /// The router answers it through the lane ([`router_lane`]); its body is the
    /// `body` bytes after the head, already read. `id` is the client's request id if
    /// the stack would keep it.
    Router { body: usize, id: Option<&'r [u8]> },
    /// hyper answers it, and every request after it on the connection.
    Hyper,
}

/// A request a fast route answers in the lane.
struct Owned<'r> {
    route: &'r FastRoute,
    path: &'r str,
    query: Option<&'r str>,
    /// The client's request id, echoed as the router would.
    id: Option<&'r [u8]>,
}

/// How the fast lane left a connection.
pub(super) enum Outcome {
    /// Hyper takes over, starting with these bytes.
    Handoff(Bytes),
    /// Hyper takes over, starting with these bytes, whose first request panicked its
    /// computed route here: hyper answers it with the panic `500`.
    HandoffAfterPanic(Bytes),
    /// The connection is done: the client closed it, a timeout passed, or the server
    /// is draining.
    Closed,
}

/// How a router request through the lane ended.
enum Routed {
    /// Answered; the connection goes on.
    Answered,
    /// Answered, and the connection ends: `connection: close`, or the drain.
    Close,
    /// Not taken: hyper answers it, from the same bytes.
    Handoff,
    /// The connection failed (a write, or the response body).
    Failed,
}

#[derive(Clone, Debug)]
pub(crate) struct FastLane {
    routes: std::sync::Arc<FastRoutes>,
    head_limit: usize,
    header_read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

/// What parsing the buffered bytes came to.
pub(crate) enum Parsed {
    /// Every complete request was answered; the rest (possibly nothing) is partial.
    NeedMore,
    /// The output reached [`BATCH_LIMIT`]: it is written before more is parsed.
    Full,
    /// The request at the start of the buffer is not the fast lane's.
    Handoff,
    /// The request at the start of the buffer, a head of `head` bytes and a body of
    /// `body`, goes to the router through the lane.
    Router { head: usize, body: usize },
    /// The request at the start of the buffer panicked its computed route; it is
    /// left unconsumed for hyper to answer.
    Panicked,
    /// The drain is announced or has started: one more request was answered, with
    /// `connection: close`, and the connection ends.
    Closing,
}

impl FastLane {
    pub(crate) fn new(
        routes: std::sync::Arc<FastRoutes>,
        head_limit: usize,
        header_read_timeout: Option<Duration>,
        write_timeout: Option<Duration>,
    ) -> Self {
        Self {
            routes,
            head_limit,
            header_read_timeout,
            write_timeout,
        }
    }

    /// Serves `stream`, whose first bytes are `buf` and which was accepted at
    /// `started`, until the connection ends or a request needs hyper. Router requests
    /// go to `service`'s router.
    pub(super) async fn serve<T: Timer, S: AppService>(
        &self,
        mut buf: BytesMut,
        stream: &TcpStream,
        service: &ChopinService<S>,
        timer: &T,
        draining: &mut Draining,
        started: Instant,
    ) -> Outcome {
        let mut buffers = Buffers::default();
        let mut sleep: Option<Pin<Box<dyn Sleep>>> = None;
        // The router inside the stack, cloned once the connection sends a router request.
        let mut app = None;
        // When the connection started waiting for the request at the front of `buf`:
        // for the first, when the connection started, so the bytes read before this
        // loop count against the same header-read budget.
        let mut waiting_since = started;
        loop {
            let closing = draining.started();
            let (parsed, answered) =
                date::with(|head_end| self.answer(&mut buf, &mut buffers, head_end, closing));
            // A router answer joins the batch: the write waits for the next stop.
            if !matches!(parsed, Parsed::Router { .. })
                && self
                    .flush(stream, &mut buffers, timer, &mut sleep)
                    .await
                    .is_err()
            {
                return Outcome::Closed;
            }
            if answered {
                waiting_since = Instant::now();
            }
            match parsed {
                Parsed::Closing => {
                    linger(stream).await;
                    return Outcome::Closed;
                }
                Parsed::Panicked => return Outcome::HandoffAfterPanic(buf.freeze()),
                // hyper answers what is left: the request it owns, or the 4xx of a
                // malformed or oversized head.
                Parsed::Handoff => return Outcome::Handoff(buf.freeze()),
                Parsed::NeedMore if buf.len() >= self.head_limit => {
                    return Outcome::Handoff(buf.freeze());
                }
                Parsed::Full => continue,
                Parsed::Router { head, body } => {
                    // Boxed: its state (the stack's future, the response, the writes
                    // that wait) would otherwise make every connection's task as large,
                    // idle ones included.
                    let routed = Box::pin(self.route(
                        &mut buf,
                        head + body,
                        head,
                        service,
                        app.get_or_insert_with(|| service.lane_app()),
                        stream,
                        &mut buffers,
                        timer,
                        &mut sleep,
                        draining,
                    ))
                    .await;
                    let handoff = match routed {
                        Routed::Answered => {
                            waiting_since = Instant::now();
                            continue;
                        }
                        Routed::Failed => return Outcome::Closed,
                        Routed::Close => false,
                        Routed::Handoff => true,
                    };
                    if self
                        .flush(stream, &mut buffers, timer, &mut sleep)
                        .await
                        .is_err()
                    {
                        return Outcome::Closed;
                    }
                    if handoff {
                        return Outcome::Handoff(buf.freeze());
                    }
                    linger(stream).await;
                    return Outcome::Closed;
                }
                Parsed::NeedMore => {}
            }

            match read_some(stream, &mut buf) {
                Ok(0) => return Outcome::Closed,
                Ok(_) => {
                    // A client that keeps sending never lets the read fail: this is
                    // where the loop yields to the worker's other tasks (its accept
                    // loop and drain included) once its turn is used up, as tokio's
                    // own reads do.
                    tokio::task::consume_budget().await;
                    continue;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => {
                    tracing::debug!(%err, "connection error");
                    return Outcome::Closed;
                }
            }
            if buf.is_empty() {
                // Idle: hold no buffer while waiting.
                buf = BytesMut::new();
                buffers.release();
            }
            let deadline = self.header_read_timeout.map(|limit| waiting_since + limit);
            let waited = tokio::select! {
                biased;
                () = &mut *draining => {
                    linger(stream).await;
                    return Outcome::Closed;
                }
                ready = stream.readable() => ready,
                () = until(timer, &mut sleep, deadline) => {
                    tracing::debug!("no request within the header-read timeout");
                    return Outcome::Closed;
                }
            };
            if let Err(err) = waited {
                tracing::debug!(%err, "connection error");
                return Outcome::Closed;
            }
        }
    }

    /// Answers the complete requests at the front of `buf` that the fast lane owns,
    /// consuming them; says whether any was answered. `head_end` ends every head (the
    /// `date` line). With `closing` (the drain is announced or has started), it answers
    /// at most one, with `connection: close`, as hyper answers the request in flight
    /// when it drains.
    pub(crate) fn answer(
        &self,
        buf: &mut BytesMut,
        buffers: &mut Buffers,
        head_end: &[u8],
        closing: bool,
    ) -> (Parsed, bool) {
        buffers.out.prepare(WRITE_BUFFER);
        let start = buffers.out.mark();
        // Draining, the first answer fills the batch: one bound test stops both.
        let limit = if closing {
            buffers.out.len() + 1
        } else {
            BATCH_LIMIT
        };
        let mut consumed = 0;
        let parsed = {
            loop {
                let rest = &buf[consumed..];
                if rest.is_empty() {
                    break Parsed::NeedMore;
                }
                if buffers.out.len() >= limit {
                    break Parsed::Full;
                }
                // Left uninitialised, as hyper does: zeroing 32 headers per request cost
                // more than parsing a small one.
                let mut headers =
                    [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
                let mut request = httparse::Request::new(&mut []);
                match request.parse_with_uninit_headers(rest, &mut headers) {
                    Ok(httparse::Status::Complete(len)) if len < self.head_limit => {
                        let owned = match self.lane(&request, &mut buffers.host, rest.len() - len) {
                            Lane::Fast(owned) => owned,
                            Lane::Router { body, id } => {
                                buffers.spans.record(rest, &request, id);
                                break Parsed::Router { head: len, body };
                            }
                            Lane::Hyper => break Parsed::Handoff,
                        };
                        let Some(method) = request.method else {
                            break Parsed::Handoff;
                        };
                        let fast =
                            FastRequest::parsed(method, owned.path, owned.query, request.headers);
                        let Buffers { out, body, .. } = buffers;
                        if owned
                            .route
                            .write_to(out, body, &fast, owned.id, head_end)
                            .is_err()
                        {
                            break Parsed::Panicked;
                        }
                        consumed += len;
                    }
                    Ok(httparse::Status::Partial) => break Parsed::NeedMore,
                    Ok(httparse::Status::Complete(_)) | Err(_) => break Parsed::Handoff,
                }
            }
        };
        buf.advance(consumed);
        let parsed = match parsed {
            Parsed::Panicked => Parsed::Panicked,
            // Anything after the one answer is not answered while draining: hyper would
            // not read it either.
            _ if closing && consumed > 0 => {
                buffers.out.close_last(start);
                Parsed::Closing
            }
            // Nothing answered yet: an announced drain leaves the connection its next
            // request, here or handed to hyper, which closes after answering it too.
            parsed => parsed,
        };
        (parsed, consumed > 0)
    }

    /// Which way `request` goes; `buffered` bytes follow its head. `known_host` is the
    /// connection's last valid `Host`.
    fn lane<'r>(
        &'r self,
        request: &httparse::Request<'_, 'r>,
        known_host: &mut Vec<u8>,
        buffered: usize,
    ) -> Lane<'r> {
        let (Some(method), Some(1), Some(target)) = (request.method, request.version, request.path)
        else {
            return Lane::Hyper;
        };
        // hyper's `414`, and the targets that are not a path (`*`, absolute-form).
        if target.len() > MAX_URI_LEN || !target.starts_with('/') || method == "CONNECT" {
            return Lane::Hyper;
        }
        let (path, query) = match target.as_bytes().iter().position(|&b| b == b'?') {
            // `?` is ASCII, so both halves are `str`s.
            Some(at) => (&target[..at], Some(&target[at + 1..])),
            None => (target, None),
        };
        // A query hyper's URI parser might refuse is left to hyper.
        if !query.is_none_or(|query| query.bytes().all(is_plain_query_byte)) {
            return Lane::Hyper;
        }
        let (mut hosts, mut host) = (0usize, &[][..]);
        let (mut ids, mut id) = (0usize, &[][..]);
        let (mut lengths, mut length) = (0usize, 0usize);
        let mut origin = false;
        for header in request.headers.iter() {
            let name = header.name.as_bytes();
            let value = header.value;
            if name.eq_ignore_ascii_case(b"host") {
                hosts += 1;
                host = value;
            } else if name.eq_ignore_ascii_case(b"x-request-id") {
                ids += 1;
                id = value;
            } else if name.eq_ignore_ascii_case(b"content-length") {
                lengths += 1;
                match router_lane::parse_length(value).and_then(|n| usize::try_from(n).ok()) {
                    Some(n) => length = n,
                    None => return Lane::Hyper,
                }
            } else if name.eq_ignore_ascii_case(b"connection") {
                if !value.eq_ignore_ascii_case(b"keep-alive") {
                    return Lane::Hyper;
                }
            } else if name.eq_ignore_ascii_case(b"origin") {
                origin = true;
            } else if name.eq_ignore_ascii_case(b"transfer-encoding")
                || name.eq_ignore_ascii_case(b"expect")
                || name.eq_ignore_ascii_case(b"upgrade")
            {
                return Lane::Hyper;
            }
        }
        // Two lengths are hyper's to refuse; a body not read whole is hyper's to read.
        if hosts != 1 || lengths > 1 || length > buffered {
            // A bad `Host` gets the middleware's JSON 400 through hyper.
            return Lane::Hyper;
        }
        if host != known_host.as_slice() {
            if !valid_hosts(std::iter::once(host), true) {
                return Lane::Hyper;
            }
            if host.len() <= KNOWN_HOST {
                known_host.clear();
                known_host.extend_from_slice(host);
            }
        }
        let route = self.routes.get(path.as_bytes());
        let get = matches!(method, "GET" | "HEAD");
        let id = (ids == 1 && request_id::acceptable(id)).then_some(id);
        match route {
            // A fast route's `GET` the lane cannot answer as registered (a body, or an
            // `Origin` that needs CORS headers) is answered by hyper's path, as in
            // standard mode.
            Some(route) if get => {
                if length != 0 || (origin && self.routes.cors()) {
                    return Lane::Hyper;
                }
                Lane::Fast(Owned {
                    route,
                    path,
                    query,
                    id,
                })
            }
            _ => Lane::Router { body: length, id },
        }
    }

    /// Answers the router request at the front of `buf` (`len` bytes, the first `head`
    /// of them its head) through `service`, appending the answer to the output. What is
    /// already answered is written first whenever the handler or its body waits.
    #[allow(clippy::too_many_arguments)]
    async fn route<T: Timer, S: AppService>(
        &self,
        buf: &mut BytesMut,
        len: usize,
        head: usize,
        service: &ChopinService<S>,
        app: &mut S,
        stream: &TcpStream,
        buffers: &mut Buffers,
        timer: &T,
        sleep: &mut Option<Pin<Box<dyn Sleep>>>,
        draining: &Draining,
    ) -> Routed {
        // As `answer` reads it: the drain announced or started, this is the last answer.
        let closing = draining.started();
        let taken = buf.split_to(len).freeze();
        let Some((request, id)) =
            router_lane::request(&taken, head, &buffers.spans, service.peer())
        else {
            // Something in it hyper refuses: hyper answers it from the same bytes.
            let mut joined = BytesMut::with_capacity(taken.len() + buf.len());
            joined.extend_from_slice(&taken);
            joined.extend_from_slice(buf);
            *buf = joined;
            return Routed::Handoff;
        };
        let lines = Lines::for_path(request.uri().path());
        let method = request.method().clone();
        let mut future = pin!(app.call(request));
        let response = match poll_once(future.as_mut()).await {
            Poll::Ready(response) => response,
            Poll::Pending => {
                if self.flush(stream, buffers, timer, sleep).await.is_err() {
                    return Routed::Failed;
                }
                match until_cut(draining, future).await {
                    Some(response) => response,
                    None => return Routed::Failed,
                }
            }
        };
        let Ok(response) = response;
        // As hyper's path marks the answer in flight when the drain starts.
        let response = service::closed(response, closing);
        let written = date::with(|head_end| {
            let stamp = Stamp {
                lines,
                id: id.as_bytes(),
            };
            let written = router_lane::write_head(
                buffers.out.head(),
                &response,
                &method,
                Some(stamp),
                head_end,
            );
            if written.is_err() {
                router_lane::write_refused(buffers.out.head(), head_end);
            }
            written
        });
        let Ok((framing, close)) = written else {
            return Routed::Close;
        };
        if framing != Framing::Length(0) {
            let mut body = response.into_body();
            loop {
                let frame = match poll_once(body.frame()).await {
                    Poll::Ready(frame) => frame,
                    Poll::Pending => {
                        // A streaming body: what it sent so far goes out meanwhile.
                        if self.flush(stream, buffers, timer, sleep).await.is_err() {
                            return Routed::Failed;
                        }
                        match until_cut(draining, body.frame()).await {
                            Some(frame) => frame,
                            None => return Routed::Failed,
                        }
                    }
                };
                match frame {
                    None => break,
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            router_lane::write_data(&mut buffers.out, framing, &data);
                        }
                        if buffers.out.len() >= BATCH_LIMIT
                            && self.flush(stream, buffers, timer, sleep).await.is_err()
                        {
                            return Routed::Failed;
                        }
                    }
                    Some(Err(err)) => {
                        // As hyper does: the answer cannot be completed, so the
                        // connection ends, after what was sent.
                        tracing::debug!(%err, "response body failed");
                        let _ = self.flush(stream, buffers, timer, sleep).await;
                        return Routed::Failed;
                    }
                }
            }
            router_lane::write_end(&mut buffers.out, framing);
        }
        if close || closing {
            Routed::Close
        } else {
            Routed::Answered
        }
    }

    /// Writes what is answered, if anything.
    async fn flush<T: Timer>(
        &self,
        stream: &TcpStream,
        buffers: &mut Buffers,
        timer: &T,
        sleep: &mut Option<Pin<Box<dyn Sleep>>>,
    ) -> io::Result<()> {
        if buffers.out.is_empty() {
            return Ok(());
        }
        #[cfg(feature = "fuzzing")]
        peak_output::record(buffers.out.len());
        let written = self.write_all(stream, &buffers.out, timer, sleep).await;
        if let Err(err) = &written {
            tracing::debug!(%err, "connection error");
        }
        buffers.written();
        written
    }

    /// Writes `output` whole; a write that makes no progress for the write timeout
    /// fails.
    async fn write_all<T: Timer>(
        &self,
        stream: &TcpStream,
        output: &Output,
        timer: &T,
        sleep: &mut Option<Pin<Box<dyn Sleep>>>,
    ) -> io::Result<()> {
        // One buffer goes out with a plain `write`, which costs about 90 instructions
        // less per call than a vectored one (`bench/callgrind.sh`).
        match output.contiguous() {
            Some(mut bytes) => {
                let write = || {
                    let n = stream.try_write(bytes)?;
                    bytes = &bytes[n..];
                    Ok((n, bytes.is_empty()))
                };
                self.write_with(stream, write, timer, sleep).await
            }
            None => {
                let mut slices = output.slices();
                let mut slices = &mut slices[..];
                let write = || {
                    let n = stream.try_write_vectored(slices)?;
                    IoSlice::advance_slices(&mut slices, n);
                    Ok((n, slices.is_empty()))
                };
                self.write_with(stream, write, timer, sleep).await
            }
        }
    }

    /// Calls `write` (bytes written, whether all are) until all are written; a write
    /// that makes no progress for the write timeout fails.
    async fn write_with<T: Timer>(
        &self,
        stream: &TcpStream,
        mut write: impl FnMut() -> io::Result<(usize, bool)>,
        timer: &T,
        sleep: &mut Option<Pin<Box<dyn Sleep>>>,
    ) -> io::Result<()> {
        // Since when no byte could be written; progress starts the clock again.
        let mut stalled_since = None;
        loop {
            match write() {
                Ok((_, true)) => return Ok(()),
                Ok((0, false)) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => stalled_since = None,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.stalled(stream, &mut stalled_since, timer, sleep)
                        .await?;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Waits until `stream` can be written, failing once no byte could be written for
    /// the write timeout (since `stalled_since`; progress resets it).
    async fn stalled<T: Timer>(
        &self,
        stream: &TcpStream,
        stalled_since: &mut Option<Instant>,
        timer: &T,
        sleep: &mut Option<Pin<Box<dyn Sleep>>>,
    ) -> io::Result<()> {
        let since = *stalled_since.get_or_insert_with(Instant::now);
        let deadline = self.write_timeout.map(|limit| since + limit);
        tokio::select! {
            biased;
            ready = stream.writable() => ready,
            () = until(timer, sleep, deadline) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client read nothing for the write timeout",
            )),
        }
    }
}

/// `future`'s output, or `None` if the drain deadline passes first: the connection
/// then ends, as a connection under hyper ends when the drain shuts its socket down.
async fn until_cut<F: Future>(draining: &Draining, future: F) -> Option<F::Output> {
    let cut = Arc::new(Cut::default());
    let weak: Weak<dyn ForceClose> = Arc::downgrade(&cut) as Weak<dyn ForceClose>;
    let _held = draining.hold(weak);
    tokio::select! {
        biased;
        output = future => Some(output),
        () = cut.fired() => {
            tracing::debug!("the drain deadline passed while a handler was waiting");
            None
        }
    }
}

/// Polls `future` once, in the task's context: ready, or pending with its wake-up
/// registered.
async fn poll_once<F: Future + Unpin>(mut future: F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut future).poll(cx))).await
}

/// Completes at `deadline`, never without one; reuses the connection's one sleep.
async fn until<T: Timer>(
    timer: &T,
    sleep: &mut Option<Pin<Box<dyn Sleep>>>,
    deadline: Option<Instant>,
) {
    let Some(deadline) = deadline else {
        return std::future::pending().await;
    };
    match sleep {
        Some(sleep) => timer.reset(sleep, deadline),
        None => *sleep = Some(timer.sleep_until(deadline)),
    }
    if let Some(sleep) = sleep {
        sleep.as_mut().await;
    }
}

/// Reads what the socket holds into `buf`. Readiness is cleared only by a read that
/// finds the socket empty (`WouldBlock`), as tokio requires: clearing it after a short
/// read saved that read's system call per keep-alive request, but held only by the
/// accident of edge-triggered epoll on a current-thread runtime (docs/performance.md).
fn read_some(stream: &TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    stream.try_read_buf(reserve(buf))
}

/// Room for at least one more read in `buf`.
fn reserve(buf: &mut BytesMut) -> &mut BytesMut {
    if buf.capacity() == buf.len() {
        buf.reserve(READ_BUFFER.max(buf.len()));
    }
    buf
}

/// Bytes RFC 3986 allows in a query, unescaped or percent-encoded.
fn is_plain_query_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b)
}
