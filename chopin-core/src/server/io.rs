//! The socket as hyper sees it: bytes already read to tell HTTP/1 from HTTP/2 are
//! replayed first; a write that makes no progress for the write timeout fails, so a
//! client that stops reading its responses cannot hold a connection forever; and on
//! HTTP/1 the answers hyper writes during one poll of the connection leave in one write.
//!
//! A batch is bounded ([`BATCH_LIMIT`]): what hyper writes beyond it waits for the
//! batch to be sent, and a large write (a big body hyper holds as `Bytes`) goes to the
//! socket from hyper's own buffers instead of being copied. A batch buffer a large
//! answer grew is freed once sent, so a keep-alive connection does not keep it.
//!
//! hyper's own `pipeline_flush` batches pipelined answers too, but holds them while
//! *any* byte of a next request is buffered: an incomplete or malformed next request
//! then delays or loses answers already produced. Here the connection sends what it has
//! whenever hyper stops for any reason (a request not complete yet, a handler still
//! running, the end of the connection), so nothing waits on the next request.

use std::{
    io,
    net::Shutdown,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, PoisonError, Weak},
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use bytes::{Buf, Bytes};
use hyper::rt::{Read, ReadBufCursor, Sleep, Timer, Write};
use hyper_util::rt::TokioIo;
use socket2::SockRef;
use tokio::{net::TcpStream, sync::OwnedSemaphorePermit};

use super::{
    BATCH_LIMIT, KEEP_BUFFER,
    drain::{Draining, ForceClose, Held},
};

/// hyper's end of the socket.
pub(super) struct ConnIo<T> {
    socket: Arc<Mutex<Socket<T>>>,
}

/// The connection's end: sends what hyper wrote during a poll.
pub(super) struct Batch<T> {
    socket: Arc<Mutex<Socket<T>>>,
}

struct Socket<T> {
    /// The connection's slot under `MAX_CONNECTIONS` and its share of the drain, kept
    /// as long as the socket: past an upgrade, until the upgraded connection closes.
    _slot: OwnedSemaphorePermit,
    _held: Held,
    /// Read before hyper took over; handed out before the socket is read again.
    prefix: Bytes,
    inner: TokioIo<TcpStream>,
    timer: T,
    write_timeout: Option<Duration>,
    /// Armed while a write waits for the client to read; reused across stalls.
    stall: Option<Pin<Box<dyn Sleep>>>,
    stalled: bool,
    /// Whether writes are held for [`Batch::poll_send`]; off for HTTP/2 (h2 batches
    /// itself) and once hyper has let go of the connection (an upgrade writes directly).
    batching: bool,
    pending: Vec<u8>,
    sent: usize,
    /// A write failed or timed out: nothing more can reach the client, so the socket
    /// is closed without lingering.
    write_failed: bool,
}

/// What a connection's socket keeps while it is open.
pub(super) struct Keep<'a> {
    pub(super) slot: OwnedSemaphorePermit,
    pub(super) draining: &'a Draining,
}

/// The socket for hyper, and the handle that sends its batched answers. With
/// `batching` off, writes go straight to the socket and the handle has nothing to send.
pub(super) fn new<T: Timer + Send + 'static>(
    prefix: Bytes,
    stream: TcpStream,
    timer: T,
    write_timeout: Option<Duration>,
    batching: bool,
    keep: Keep<'_>,
) -> (ConnIo<T>, Batch<T>) {
    let socket = Arc::new_cyclic(|socket: &Weak<Mutex<Socket<T>>>| {
        Mutex::new(Socket {
            _slot: keep.slot,
            _held: keep.draining.hold(socket.clone()),
            prefix,
            inner: TokioIo::new(stream),
            timer,
            write_timeout,
            stall: None,
            stalled: false,
            batching,
            pending: Vec::new(),
            sent: 0,
            write_failed: false,
        })
    });
    (
        ConnIo {
            socket: Arc::clone(&socket),
        },
        Batch { socket },
    )
}

impl<T: Send> ForceClose for Mutex<Socket<T>> {
    fn force_close(&self) {
        let socket = lock(self);
        if let Err(err) = SockRef::from(socket.inner.inner()).shutdown(Shutdown::Both) {
            tracing::debug!(%err, "cannot shut the socket down");
        }
    }
}

/// Ends a connection the server closes (after an error it answered, `connection:
/// close`, or the drain) as a careful server does, a lingering close: its answers are
/// written, it is shut down for writing, and what the client still sends (it may not
/// know yet, and pipeline on) is read and dropped until it closes its side too, or
/// sends nothing for [`LINGER_QUIET`], for [`LINGER_MAX`] at most. Closing a socket with
/// bytes unread, or before bytes already on their way arrive, sends a reset, which
/// throws away answers still queued in it and can make the client's stack drop answers
/// it has received but not read.
pub(super) async fn linger(stream: &TcpStream) {
    if let Err(err) = SockRef::from(stream).shutdown(Shutdown::Write) {
        tracing::debug!(%err, "connection error");
        return;
    }
    // Allocated only here: the task of an idle connection stays small.
    let mut scratch = vec![0; 4096];
    let reading = async {
        loop {
            match stream.try_read(&mut scratch) {
                Ok(0) => return,
                // A client that keeps sending never lets the read fail: yield once
                // this task's turn is used up, so the deadline and other tasks run.
                Ok(_) => tokio::task::consume_budget().await,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    match tokio::time::timeout(LINGER_QUIET, stream.readable()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) | Err(_) => return,
                    }
                }
                Err(_) => return,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_MAX, reading).await;
}

/// How long a lingering connection waits for more bytes from its client.
const LINGER_QUIET: Duration = Duration::from_secs(1);

/// How long a connection lingers at most.
const LINGER_MAX: Duration = Duration::from_secs(5);

fn lock<T>(socket: &Mutex<Socket<T>>) -> MutexGuard<'_, Socket<T>> {
    // Every update leaves the socket consistent; a panic elsewhere changes nothing here.
    socket.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T: Timer> Socket<T> {
    /// Called when a write cannot proceed: fails once the stall has lasted the write
    /// timeout.
    fn poll_stall(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(timeout) = self.write_timeout else {
            return Poll::Pending;
        };
        if !self.stalled {
            self.stalled = true;
            let deadline = Instant::now() + timeout;
            match &mut self.stall {
                Some(sleep) => self.timer.reset(sleep, deadline),
                None => self.stall = Some(self.timer.sleep_until(deadline)),
            }
        }
        match &mut self.stall {
            Some(sleep) => {
                ready!(sleep.as_mut().poll(cx));
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client read nothing for the write timeout",
                )))
            }
            None => Poll::Pending,
        }
    }

    fn progress<R>(
        &mut self,
        polled: Poll<io::Result<R>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<R>> {
        let polled = match polled {
            Poll::Ready(result) => {
                self.stalled = false;
                Poll::Ready(result)
            }
            Poll::Pending => match self.poll_stall(cx) {
                Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
                _ => Poll::Pending,
            },
        };
        if let Poll::Ready(Err(_)) = polled {
            self.write_failed = true;
        }
        polled
    }

    /// Writes out every held byte.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let polled = Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]);
            match ready!(self.progress(polled, cx))? {
                0 => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                n => self.sent += n,
            }
        }
        if self.pending.capacity() > KEEP_BUFFER {
            self.pending = Vec::new();
        } else {
            self.pending.clear();
        }
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Makes room for a write of `len` bytes, sending what the batch holds if they
    /// would take it past its limit; says whether they go straight to the socket
    /// (a whole batch or more) rather than into the batch.
    fn poll_room(&mut self, cx: &mut Context<'_>, len: usize) -> Poll<io::Result<bool>> {
        if self.held() > 0 && self.held() + len > BATCH_LIMIT {
            ready!(self.poll_send(cx))?;
        }
        Poll::Ready(Ok(len >= BATCH_LIMIT))
    }

    fn held(&self) -> usize {
        self.pending.len() - self.sent
    }
}

impl<T: Timer> Batch<T> {
    /// The socket to close lingering, once hyper has let go of it (no upgraded
    /// connection holds it) and if answers can still reach the client (no write failed),
    /// with what it keeps while open: its slot under the cap and its place in the drain.
    pub(super) fn into_lingering(self) -> Option<(TcpStream, impl Sized)> {
        let socket = Arc::try_unwrap(self.socket)
            .ok()?
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        if socket.write_failed {
            return None;
        }
        Some((socket.inner.into_inner(), (socket._slot, socket._held)))
    }

    /// Sends what hyper wrote; with `last`, hyper is done with the connection and later
    /// writes (an upgraded connection's) go straight to the socket.
    pub(super) fn poll_send(&self, cx: &mut Context<'_>, last: bool) -> Poll<io::Result<()>> {
        let mut socket = lock(&self.socket);
        ready!(socket.poll_send(cx))?;
        if last {
            socket.batching = false;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: Timer + Unpin> Read for ConnIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let mut socket = lock(&self.socket);
        if socket.prefix.is_empty() {
            return Pin::new(&mut socket.inner).poll_read(cx, buf);
        }
        let n = socket.prefix.len().min(buf.remaining());
        buf.put_slice(&socket.prefix[..n]);
        socket.prefix.advance(n);
        if socket.prefix.is_empty() {
            // An empty slice would still keep the whole buffer alive.
            socket.prefix = Bytes::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: Timer + Unpin> Write for ConnIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut socket = lock(&self.socket);
        if socket.batching && !ready!(socket.poll_room(cx, buf.len()))? {
            socket.pending.extend_from_slice(buf);
            return Poll::Ready(Ok(buf.len()));
        }
        let polled = Pin::new(&mut socket.inner).poll_write(cx, buf);
        socket.progress(polled, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut socket = lock(&self.socket);
        let len = bufs.iter().map(|buf| buf.len()).sum();
        if socket.batching && !ready!(socket.poll_room(cx, len))? {
            for buf in bufs {
                socket.pending.extend_from_slice(buf);
            }
            return Poll::Ready(Ok(len));
        }
        let polled = Pin::new(&mut socket.inner).poll_write_vectored(cx, bufs);
        socket.progress(polled, cx)
    }

    fn is_write_vectored(&self) -> bool {
        lock(&self.socket).inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut socket = lock(&self.socket);
        if socket.batching {
            // Sent by the connection when hyper stops (`Batch::poll_send`).
            return Poll::Ready(Ok(()));
        }
        let polled = Pin::new(&mut socket.inner).poll_flush(cx);
        socket.progress(polled, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut socket = lock(&self.socket);
        ready!(socket.poll_send(cx))?;
        let polled = Pin::new(&mut socket.inner).poll_shutdown(cx);
        socket.progress(polled, cx)
    }
}
