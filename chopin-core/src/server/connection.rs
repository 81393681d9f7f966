//! The connection policy both modes share: accepting under the connection cap, telling
//! HTTP/1 from HTTP/2 within the header-read timeout, and serving with the same hyper
//! settings (head limit, timeouts, upgrades) until the connection ends or the server
//! drains.

use std::{
    io as std_io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::Poll,
    time::{Duration, Instant},
};

use bytes::{Bytes, BytesMut};
use hyper::{
    rt::Timer,
    server::conn::{http1, http2},
};
use hyper_util::rt::TokioExecutor;
use tokio::{
    io::AsyncReadExt,
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, watch},
};

use super::{
    drain::{Drain, Draining},
    fast_lane::{FastLane, Outcome},
    h2_idle::{IdleTimeout, Streams},
    io::{self, Batch},
    service::{AppService, ChopinService},
    timer::FirstDeadline,
};
use crate::{config::Config, fast_route::FastRoutes};

/// The HTTP/2 connection preface (RFC 9113 section 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long the drain waits, after shutting down the sockets still open at its
/// deadline, for their owners to let them go: a handler that never polls its socket
/// again is left to the runtime.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// How long a worker pauses after an accept error such as `EMFILE`, instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Bytes read at most before hyper takes over a connection.
const SNIFF_BUFFER: usize = 4096;

/// HTTP/2 pings: a peer that stops answering them is dropped. Idle peers that answer
/// them are closed by [`IdleTimeout`].
const H2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);
const H2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Streams one HTTP/2 connection may have open at once.
const H2_MAX_CONCURRENT_STREAMS: u32 = 128;

/// The settings every connection is served with, whichever the mode. `T` is the timer
/// behind hyper's timeouts: tokio's in standard mode, a per-thread coarse one in
/// performance mode.
#[derive(Clone, Debug)]
pub(super) struct Http<T> {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    timer: T,
    header_read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// Performance mode's own loop for fast routes, in front of hyper's HTTP/1.
    fast_lane: Option<FastLane>,
}

impl<T> Http<T>
where
    T: Timer + Clone + Send + Sync + Unpin + 'static,
{
    /// With `fast_routes`, HTTP/1 connections start in the fast lane (performance mode,
    /// `FAST_LANE` on), which answers those routes and takes most router requests to
    /// the router itself.
    pub(super) fn new(config: &Config, timer: T, fast_routes: Option<Arc<FastRoutes>>) -> Self {
        let head_limit = config.request_head_limit;
        let mut http1 = http1::Builder::new();
        http1
            .timer(timer.clone())
            .keep_alive(true)
            // A client that shuts down its sending side after its last request still
            // gets every answer.
            .half_close(true)
            // Armed from the moment a connection waits for a request, so it is also the
            // keep-alive idle timeout.
            .header_read_timeout(config.header_read_timeout)
            // A head of `head_limit` bytes or more is answered 431; the read buffer
            // stops there too.
            .max_header_size(head_limit)
            .max_buf_size(head_limit);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(timer.clone())
            .max_header_list_size(u32::try_from(head_limit).unwrap_or(u32::MAX))
            .max_concurrent_streams(H2_MAX_CONCURRENT_STREAMS)
            .keep_alive_interval(H2_KEEP_ALIVE_INTERVAL)
            .keep_alive_timeout(H2_KEEP_ALIVE_TIMEOUT);
        Self {
            http1,
            http2,
            timer,
            header_read_timeout: config.header_read_timeout,
            write_timeout: config.write_timeout,
            fast_lane: fast_routes.map(|routes| {
                FastLane::new(
                    routes,
                    head_limit,
                    config.header_read_timeout,
                    config.write_timeout,
                )
            }),
        }
    }

    /// Serves one accepted connection until it ends, or until the drain starts and its
    /// in-flight requests are answered. `slot` is its place under the connection cap,
    /// kept as long as the socket is open, an upgraded one included.
    pub(super) async fn serve<S: AppService>(
        &self,
        mut stream: TcpStream,
        mut service: ChopinService<S>,
        mut draining: Draining,
        slot: OwnedSemaphorePermit,
    ) {
        let started = Instant::now();
        let sniffed = tokio::select! {
            biased;
            () = &mut draining => return,
            sniffed = self.sniff(&mut stream) => sniffed,
        };
        let (prefix, is_h2) = match sniffed {
            Ok(Some(sniffed)) => sniffed,
            Ok(None) => return,
            Err(err) => {
                tracing::debug!(%err, "connection closed before its first request");
                return;
            }
        };
        if is_h2 {
            // h2 batches its own writes.
            let (io, batch) = self.io(prefix.freeze(), stream, false, slot, &draining);
            let streams = Streams::new();
            let connection = IdleTimeout::new(
                self.http2.serve_connection(io, streams.count(service)),
                |c| c.graceful_shutdown(),
                streams,
                self.header_read_timeout,
                self.timer.clone(),
            );
            until_drained(connection, draining, batch, |c| {
                c.get_mut().graceful_shutdown();
            })
            .await;
        } else {
            // The first head's budget runs from the connection's start, whichever stage
            // reads it: the fast lane counts from there, and so does hyper's timeout
            // for a head the sniff began.
            let (prefix, http1) = match &self.fast_lane {
                Some(lane) => match lane
                    .serve(
                        prefix,
                        &stream,
                        &service,
                        &self.timer,
                        &mut draining,
                        started,
                    )
                    .await
                {
                    Outcome::Handoff(rest) => (rest, None),
                    Outcome::HandoffAfterPanic(rest) => {
                        service = service.after_panic();
                        (rest, None)
                    }
                    Outcome::Closed => return,
                },
                None => {
                    let http1 = self.first_head_budget(&prefix, started);
                    (prefix.freeze(), http1)
                }
            };
            let http1 = http1.as_ref().unwrap_or(&self.http1);
            let (io, batch) = self.io(prefix, stream, true, slot, &draining);
            // Boxed, as in `IdleTimeout`: the task of a fast-lane connection stays small.
            let connection = Box::pin(http1.serve_connection(io, service).with_upgrades());
            until_drained(connection, draining, batch, |c| {
                c.get_mut().as_mut().graceful_shutdown();
            })
            .await;
        }
    }

    /// The socket as hyper sees it, holding the connection's slot and its place in the
    /// drain for as long as it is open.
    fn io(
        &self,
        prefix: Bytes,
        stream: TcpStream,
        batching: bool,
        slot: OwnedSemaphorePermit,
        draining: &Draining,
    ) -> (io::ConnIo<T>, Batch<T>) {
        let keep = io::Keep { slot, draining };
        let timer = self.timer.clone();
        io::new(prefix, stream, timer, self.write_timeout, batching, keep)
    }

    /// hyper's settings for a connection whose first head the sniff began but did not
    /// read whole: hyper would give that head the whole header-read timeout again, so
    /// its first timeout ends where the connection's budget does. `None` (the shared
    /// settings) for a whole first head, the common case, which costs nothing more.
    fn first_head_budget(&self, prefix: &[u8], started: Instant) -> Option<http1::Builder> {
        let limit = self.header_read_timeout?;
        // Most first reads end with their head; only others are searched.
        if prefix.ends_with(b"\r\n\r\n") || prefix.windows(4).any(|w| w == b"\r\n\r\n") {
            return None;
        }
        let mut http1 = self.http1.clone();
        http1.timer(FirstDeadline::new(self.timer.clone(), started + limit));
        Some(http1)
    }

    /// Reads until the first bytes tell HTTP/2's preface from anything else, within the
    /// header-read timeout, which the stage after this one continues rather than
    /// restarts. `None` when the client closed first.
    async fn sniff(&self, stream: &mut TcpStream) -> std_io::Result<Option<(BytesMut, bool)>> {
        let read = async {
            // One page: most first requests fit; hyper reads the rest of larger ones.
            let mut buf = BytesMut::with_capacity(SNIFF_BUFFER);
            loop {
                if stream.read_buf(&mut buf).await? == 0 {
                    return Ok(None);
                }
                let n = buf.len().min(H2_PREFACE.len());
                if buf[..n] != H2_PREFACE[..n] {
                    return Ok(Some((buf, false)));
                }
                if n == H2_PREFACE.len() {
                    return Ok(Some((buf, true)));
                }
            }
        };
        match self.header_read_timeout {
            Some(limit) => tokio::select! {
                result = read => result,
                () = self.timer.sleep(limit) => Err(std_io::Error::new(
                    std_io::ErrorKind::TimedOut,
                    "no request within the header-read timeout",
                )),
            },
            None => read.await,
        }
    }
}

/// Serves `listener` until `stop` completes, then gives the connections it accepted up
/// to `drain` to finish their in-flight requests. For the first part of that, as long
/// as `linger` says then (or until it says zero), the drain is only announced: answers
/// carry `connection: close` and idle connections are left to their clients (see
/// [`Drain::announce`]). Both modes' listeners run this.
pub(super) async fn serve<S, T>(
    listener: TcpListener,
    http: &Arc<Http<T>>,
    service: &ChopinService<S>,
    cap: &Arc<Semaphore>,
    stop: impl Future<Output = ()>,
    mut linger: watch::Receiver<Duration>,
    drain: Duration,
) where
    S: AppService,
    T: Timer + Clone + Send + Sync + Unpin + 'static,
{
    let connections = Drain::default();
    let service = service.clone().closing_on(connections.closing());
    accept(&listener, http, &service, cap, &connections, stop).await;
    let announced = *linger.borrow_and_update();
    if !announced.is_zero() {
        connections.announce();
        accept_queued(&listener, http, &service, cap, &connections).await;
    }
    drop(listener);
    let deadline = tokio::time::Instant::now() + drain;
    if !announced.is_zero() {
        let cut_short = linger.wait_for(Duration::is_zero);
        tokio::select! {
            _ = tokio::time::timeout(announced.min(drain), connections.all_closed()) => {}
            _ = cut_short => {}
        }
    }
    if tokio::time::timeout_at(deadline, connections.shutdown())
        .await
        .is_ok()
    {
        return;
    }
    tracing::warn!(
        ?drain,
        "in-flight requests or upgraded connections did not finish within the drain deadline; closing them"
    );
    connections.force_close();
    if tokio::time::timeout(CLOSE_GRACE, connections.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("a closed connection's handler is still running; leaving it to the runtime");
    }
}

/// Runs `connection` to its end, sending what it wrote each time it stops (see
/// [`io`](super::io)); once the drain starts, asks it to close after its in-flight
/// requests.
async fn until_drained<C, E, T>(
    mut connection: C,
    mut draining: Draining,
    batch: Batch<T>,
    graceful_shutdown: impl FnOnce(Pin<&mut C>),
) where
    C: Future<Output = Result<(), E>> + Unpin,
    E: std::fmt::Display,
    T: Timer,
{
    let mut graceful_shutdown = Some(graceful_shutdown);
    let mut ended: Option<Result<(), E>> = None;
    let sent = std::future::poll_fn(|cx| {
        if ended.is_none() {
            if graceful_shutdown.is_some()
                && Pin::new(&mut draining).poll(cx).is_ready()
                && let Some(shutdown) = graceful_shutdown.take()
            {
                shutdown(Pin::new(&mut connection));
            }
            if let Poll::Ready(result) = Pin::new(&mut connection).poll(cx) {
                ended = Some(result);
            }
        }
        match batch.poll_send(cx, ended.is_some()) {
            Poll::Ready(Ok(())) if ended.is_none() => Poll::Pending,
            Poll::Ready(Ok(())) => Poll::Ready(true),
            Poll::Ready(Err(err)) => {
                tracing::debug!(%err, "connection error");
                Poll::Ready(false)
            }
            Poll::Pending => Poll::Pending,
        }
    })
    .await;
    if let Some(Err(err)) = &ended {
        tracing::debug!(%err, "connection error");
    }
    // Lets go of hyper's end of the socket.
    drop(connection);
    // However hyper ended it (a 4xx it closes after, `connection: close`, the drain),
    // the client may have sent more than hyper read. Not for an upgraded connection,
    // which still owns the socket.
    if sent && let Some((stream, _kept)) = batch.into_lingering() {
        io::linger(&stream).await;
    }
}

/// Accepts on `listener` until `stop` completes, serving each connection on its own task
/// once `cap` has a slot for it; a full cap stops accepting (new connections wait in the
/// kernel's backlog, and at most one accepted connection per listener waits for a slot)
/// without touching the connections being served.
async fn accept<S, T>(
    listener: &TcpListener,
    http: &Arc<Http<T>>,
    service: &ChopinService<S>,
    cap: &Arc<Semaphore>,
    drain: &Drain,
    stop: impl Future<Output = ()>,
) where
    S: AppService,
    T: Timer + Clone + Send + Sync + Unpin + 'static,
{
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                // Waiting here stops this listener accepting; the slot is taken after
                // the accept because with `SO_REUSEPORT` the next connection may be
                // queued at another worker's listener, which must not hold a slot
                // while it waits for one.
                let permit = tokio::select! {
                    biased;
                    () = &mut stop => return,
                    permit = Arc::clone(cap).acquire_owned() => match permit {
                        Ok(permit) => permit,
                        // Never closed: the semaphore lives as long as the server.
                        Err(_) => return,
                    },
                };
                spawn(stream, peer, permit, http, service, drain);
            }
            Err(err) if is_per_connection(&err) => {
                tracing::debug!(%err, "accept failed for one connection");
            }
            Err(err) => {
                tracing::error!(%err, "accept failed; pausing");
                tokio::select! {
                    () = &mut stop => return,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }
}

/// Accepts the connections the kernel has already completed, without waiting for more:
/// closing the listener would reset them, with the requests a proxy may have sent on
/// them. Each gets its answer, closing (the drain is announced), if the cap has room.
async fn accept_queued<S, T>(
    listener: &TcpListener,
    http: &Arc<Http<T>>,
    service: &ChopinService<S>,
    cap: &Arc<Semaphore>,
    drain: &Drain,
) where
    S: AppService,
    T: Timer + Clone + Send + Sync + Unpin + 'static,
{
    let queued = std::future::poll_fn(|cx| {
        let mut queued = Vec::new();
        while let Poll::Ready(Ok(accepted)) = listener.poll_accept(cx) {
            queued.push(accepted);
        }
        Poll::Ready(queued)
    })
    .await;
    for (stream, peer) in queued {
        match Arc::clone(cap).try_acquire_owned() {
            Ok(permit) => spawn(stream, peer, permit, http, service, drain),
            Err(_) => tracing::debug!("connection cap full while draining; closing one"),
        }
    }
}

fn spawn<S, T>(
    stream: TcpStream,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
    http: &Arc<Http<T>>,
    service: &ChopinService<S>,
    drain: &Drain,
) where
    S: AppService,
    T: Timer + Clone + Send + Sync + Unpin + 'static,
{
    // Nagle's algorithm delays small responses behind delayed ACKs; keep-alive clients
    // stall on it.
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(%err, "cannot set TCP_NODELAY");
    }
    let draining = drain.enter();
    let (http, service) = (Arc::clone(http), service.clone().for_peer(peer));
    tokio::spawn(async move {
        http.serve(stream, service, draining, permit).await;
    });
}

/// Errors that concern only the connection being accepted, not the listener.
fn is_per_connection(err: &std_io::Error) -> bool {
    matches!(
        err.kind(),
        std_io::ErrorKind::ConnectionRefused
            | std_io::ErrorKind::ConnectionAborted
            | std_io::ErrorKind::ConnectionReset
    )
}
