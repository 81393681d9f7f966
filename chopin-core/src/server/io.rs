//! The socket as hyper sees it: bytes already read to tell HTTP/1 from HTTP/2 are
//! replayed first, and a write that makes no progress for the write timeout fails, so a
//! client that stops reading its responses cannot hold a connection forever.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use bytes::{Buf, Bytes};
use hyper::rt::{Read, ReadBufCursor, Sleep, Timer, Write};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub(super) struct ConnIo<T> {
    /// Read before hyper took over; handed out before the socket is read again.
    prefix: Bytes,
    inner: TokioIo<TcpStream>,
    timer: T,
    write_timeout: Option<Duration>,
    /// Armed while a write waits for the client to read; reused across stalls.
    stall: Option<Pin<Box<dyn Sleep>>>,
    stalled: bool,
}

impl<T: Timer> ConnIo<T> {
    pub(super) fn new(
        prefix: Bytes,
        stream: TcpStream,
        timer: T,
        write_timeout: Option<Duration>,
    ) -> Self {
        Self {
            prefix,
            inner: TokioIo::new(stream),
            timer,
            write_timeout,
            stall: None,
            stalled: false,
        }
    }

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
        match polled {
            Poll::Ready(result) => {
                self.stalled = false;
                Poll::Ready(result)
            }
            Poll::Pending => {
                ready!(self.poll_stall(cx))?;
                Poll::Pending
            }
        }
    }
}

impl<T: Timer + Unpin> Read for ConnIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        if self.prefix.is_empty() {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        let n = self.prefix.len().min(buf.remaining());
        buf.put_slice(&self.prefix[..n]);
        self.prefix.advance(n);
        if self.prefix.is_empty() {
            // An empty slice would still keep the whole buffer alive.
            self.prefix = Bytes::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: Timer + Unpin> Write for ConnIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.progress(polled, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.progress(polled, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.progress(polled, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.progress(polled, cx)
    }
}
