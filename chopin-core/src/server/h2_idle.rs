//! The idle timeout of HTTP/2 connections, which hyper lacks: its HTTP/1 header-read
//! timeout doubles as the keep-alive idle timeout, but its HTTP/2 server (like h2's
//! and hyper-util's) has none. `keep_alive_interval` and `keep_alive_timeout` only
//! drop a peer that stops answering pings; a live client that opens no stream passes
//! them forever.
//!
//! So each request of an HTTP/2 connection counts as an open stream until its response
//! body is dropped, which hyper does when the stream ends, and the connection is shut
//! down gracefully once no stream has been open for the timeout. Pings and other
//! connection frames are not activity.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use http::{Request, Response};
use hyper::{
    body::{Body, Frame, Incoming, SizeHint},
    rt::{Sleep, Timer},
};
use pin_project_lite::pin_project;

/// The shortest idle timeout; a shorter one set in code is rounded up to it.
const MIN_LIMIT: Duration = Duration::from_millis(1);

/// One connection's open streams, and since when none has been open.
#[derive(Debug)]
pub(super) struct Streams {
    start: Instant,
    open: AtomicUsize,
    /// When the last stream ended, in nanoseconds after `start`.
    idle_since: AtomicU64,
}

impl Streams {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            open: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
        })
    }

    /// `service` with each request counted as an open stream.
    pub(super) fn count<S>(self: &Arc<Self>, service: S) -> Counted<S> {
        Counted {
            service,
            streams: Arc::clone(self),
        }
    }

    fn open(self: &Arc<Self>) -> OpenStream {
        self.open.fetch_add(1, Ordering::Relaxed);
        OpenStream(Arc::clone(self))
    }

    /// When the connection became idle; `None` while a stream is open.
    fn idle_since(&self) -> Option<Instant> {
        if self.open.load(Ordering::Acquire) > 0 {
            return None;
        }
        let nanos = self.idle_since.load(Ordering::Relaxed);
        Some(self.start + Duration::from_nanos(nanos))
    }
}

/// Counts as an open stream until dropped.
#[derive(Debug)]
struct OpenStream(Arc<Streams>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        let streams = &self.0;
        let nanos = u64::try_from(streams.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        // The latest end wins when streams end together.
        streams.idle_since.fetch_max(nanos, Ordering::Relaxed);
        // Release: whoever sees the count reach 0 sees the time too.
        streams.open.fetch_sub(1, Ordering::Release);
    }
}

/// A service whose requests count as open streams until their response bodies are
/// dropped.
#[derive(Clone, Debug)]
pub(super) struct Counted<S> {
    service: S,
    streams: Arc<Streams>,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for Counted<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>>,
{
    type Response = Response<CountedBody<B>>;
    type Error = S::Error;
    type Future = CountedFuture<S::Future>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        CountedFuture {
            stream: Some(self.streams.open()),
            future: self.service.call(request),
        }
    }
}

pin_project! {
    /// Holds the stream open while the response is produced (a request the client
    /// resets is dropped here), then hands it to the body.
    pub(super) struct CountedFuture<F> {
        #[pin]
        future: F,
        stream: Option<OpenStream>,
    }
}

impl<F, B, E> Future for CountedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<CountedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.future.poll(cx))?;
        let stream = this.stream.take();
        Poll::Ready(Ok(response.map(|body| CountedBody {
            body,
            _stream: stream,
        })))
    }
}

pin_project! {
    /// A response body that holds its stream open until hyper drops it.
    pub(super) struct CountedBody<B> {
        #[pin]
        body: B,
        _stream: Option<OpenStream>,
    }
}

impl<B: Body> Body for CountedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// An HTTP/2 connection under the idle timeout: once no stream has been open for
/// `limit`, a graceful shutdown (GOAWAY). That waits for the client to acknowledge a
/// ping, so a connection still there and idle a further `limit` later is dropped.
pub(super) struct IdleTimeout<C, T> {
    connection: Pin<Box<C>>,
    graceful_shutdown: fn(Pin<&mut C>),
    streams: Arc<Streams>,
    timer: T,
    /// `None` when the timeout is off.
    idle: Option<(Duration, Pin<Box<dyn Sleep>>)>,
    shut_down: bool,
}

impl<C, T: Timer> IdleTimeout<C, T> {
    /// `connection` is boxed so that the task of a fast-lane connection stays small.
    pub(super) fn new(
        connection: C,
        graceful_shutdown: fn(Pin<&mut C>),
        streams: Arc<Streams>,
        limit: Option<Duration>,
        timer: T,
    ) -> Self {
        // The sleep is not reset per stream: while one is open it just fires every
        // `limit`, and then waits for the rest of the time since the last stream ended.
        let idle = limit.map(|limit| {
            // Each wake-up re-arms the sleep at least this far ahead, so it cannot spin.
            let limit = limit.max(MIN_LIMIT);
            (limit, timer.sleep_until(streams.start + limit))
        });
        Self {
            connection: Box::pin(connection),
            graceful_shutdown,
            streams,
            timer,
            idle,
            shut_down: false,
        }
    }

    pub(super) fn graceful_shutdown(&mut self) {
        (self.graceful_shutdown)(self.connection.as_mut());
    }
}

impl<C, E, T> Future for IdleTimeout<C, T>
where
    C: Future<Output = Result<(), E>>,
    T: Timer + Unpin,
{
    type Output = Result<(), E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some((limit, sleep)) = &mut this.idle {
            while sleep.as_mut().poll(cx).is_ready() {
                let now = Instant::now();
                match this.streams.idle_since() {
                    None => this.timer.reset(sleep, now + *limit),
                    Some(since) if since + *limit > now => this.timer.reset(sleep, since + *limit),
                    Some(_) if this.shut_down => {
                        tracing::debug!(
                            "idle HTTP/2 connection still open a timeout after its GOAWAY"
                        );
                        return Poll::Ready(Ok(()));
                    }
                    Some(_) => {
                        this.shut_down = true;
                        (this.graceful_shutdown)(this.connection.as_mut());
                        this.timer.reset(sleep, now + *limit);
                    }
                }
            }
        }
        this.connection.as_mut().poll(cx)
    }
}
