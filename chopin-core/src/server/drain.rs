//! Graceful drain: on shutdown, every live connection is told to close after its
//! in-flight request, and the server waits for them. A socket hyper serves is held
//! here too, for as long as it is open: an upgraded connection (a WebSocket) outlives
//! its HTTP connection, and still counts until it closes. Sockets still open at the
//! drain deadline are shut down.
//!
//! A drain may first be announced: answers carry `connection: close` from then on,
//! while idle connections stay open. A proxy that pools keep-alive connections (nginx)
//! may send a request on an idle one at the very moment the server closes it; that
//! request fails, and a `POST` is not retried. Announced, each connection ends after
//! an answer, or is closed by its client, and never under a request.
//!
//! hyper-util's `GracefulShutdown` does the same by polling a `watch` receiver on every
//! wake of every connection, which takes a lock each time. Here a connection registers
//! its waker once and afterwards only reads an atomic flag per wake.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError, Weak,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, Waker},
};

use tokio::sync::Notify;

/// One per server (standard mode) or per worker (performance mode).
#[derive(Clone, Debug, Default)]
pub(super) struct Drain {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Mirrors `Registry::draining` so a wake needs no lock.
    draining: AtomicBool,
    /// Set when the drain is announced or starts: answers carry `connection: close`.
    closing: AtomicBool,
    registry: Mutex<Registry>,
    all_closed: Notify,
}

#[derive(Default)]
struct Registry {
    draining: bool,
    /// Announced or draining: the last connection to close says so.
    closing: bool,
    live: usize,
    next_id: u64,
    wakers: HashMap<u64, Waker>,
    /// Held sockets, shut down if still open at the drain deadline.
    sockets: HashMap<u64, Weak<dyn ForceClose>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("draining", &self.draining)
            .field("live", &self.live)
            .field("sockets", &self.sockets.len())
            .finish_non_exhaustive()
    }
}

/// A socket the drain can shut down at its deadline, whoever owns it then.
pub(super) trait ForceClose: Send + Sync {
    /// Shuts the socket down in both directions: the peer sees it end, and its owner's
    /// next read or write fails, so the owner lets it go.
    fn force_close(&self);
}

impl Shared {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        // The registry stays consistent even if a holder panicked: every update is a
        // single assignment or map operation.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one more live connection or socket; its id.
    fn enter(&self) -> u64 {
        let mut registry = self.registry();
        registry.live += 1;
        registry.next_id += 1;
        registry.next_id
    }

    fn leave(&self, id: u64) {
        let mut registry = self.registry();
        registry.wakers.remove(&id);
        registry.sockets.remove(&id);
        registry.live -= 1;
        if registry.live == 0 && registry.closing {
            self.all_closed.notify_waiters();
        }
    }
}

impl Drain {
    /// Counts one more live connection until the returned signal is dropped. The signal
    /// completes when the drain starts; the connection then finishes its in-flight
    /// request and closes.
    pub(super) fn enter(&self) -> Draining {
        Draining {
            shared: Arc::clone(&self.shared),
            id: self.shared.enter(),
            waker: None,
        }
    }

    /// Shuts down every held socket still open: for the drain deadline.
    pub(super) fn force_close(&self) {
        let sockets: Vec<_> = self
            .shared
            .registry()
            .sockets
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        for socket in sockets {
            socket.force_close();
        }
    }

    /// Announces the drain: every answer from now on carries `connection: close`, but
    /// idle connections are left open for their clients to use once more or to close
    /// ([`Drain::all_closed`] waits for that). Announced before the listener closes, so
    /// a request a client sends once it sees the listener gone is answered closing.
    pub(super) fn announce(&self) {
        let mut registry = self.shared.registry();
        registry.closing = true;
        self.shared.closing.store(true, Ordering::Release);
    }

    /// Whether answers carry `connection: close`, for the service answering them.
    pub(super) fn closing(&self) -> Closing {
        Closing(Arc::clone(&self.shared))
    }

    /// Tells every connection to close after its in-flight request and waits until all
    /// have.
    pub(super) async fn shutdown(&self) {
        {
            let mut registry = self.shared.registry();
            registry.draining = true;
            registry.closing = true;
            self.shared.closing.store(true, Ordering::Release);
            self.shared.draining.store(true, Ordering::Release);
            for (_, waker) in registry.wakers.drain() {
                waker.wake();
            }
        }
        self.all_closed().await;
    }

    /// Returns once every connection has closed.
    pub(super) async fn all_closed(&self) {
        loop {
            let closed = self.shared.all_closed.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            if self.shared.registry().live == 0 {
                return;
            }
            closed.await;
        }
    }
}

/// A live connection's share of the drain: completes once the drain has started.
#[derive(Debug)]
pub(super) struct Draining {
    shared: Arc<Shared>,
    id: u64,
    waker: Option<Waker>,
}

impl Future for Draining {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.shared.draining.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if this.waker.as_ref().is_none_or(|w| !w.will_wake(cx.waker())) {
            // Registered under the lock `shutdown` takes, so no wake-up is missed.
            let mut registry = this.shared.registry();
            if registry.draining {
                return Poll::Ready(());
            }
            registry.wakers.insert(this.id, cx.waker().clone());
            this.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Draining {
    /// Whether the drain has been announced or has started, so answers carry
    /// `connection: close`; registers no wake-up.
    pub(super) fn started(&self) -> bool {
        self.shared.closing.load(Ordering::Acquire)
    }

    /// Counts `socket` as live, and lets the drain shut it down at its deadline, until
    /// the returned guard is dropped (with the socket).
    pub(super) fn hold(&self, socket: Weak<dyn ForceClose>) -> Held {
        let id = self.shared.enter();
        self.shared.registry().sockets.insert(id, socket);
        Held {
            shared: Arc::clone(&self.shared),
            id,
        }
    }
}

impl Drop for Draining {
    fn drop(&mut self) {
        self.shared.leave(self.id);
    }
}

/// Whether the drain has been announced or has started: answers then carry
/// `connection: close`.
#[derive(Clone, Debug)]
pub(super) struct Closing(Arc<Shared>);

impl Closing {
    pub(super) fn is_set(&self) -> bool {
        self.0.closing.load(Ordering::Acquire)
    }
}

/// A socket's share of the drain: counted live until dropped.
#[derive(Debug)]
pub(super) struct Held {
    shared: Arc<Shared>,
    id: u64,
}

/// The drain deadline, for a connection whose socket the drain cannot shut down (the
/// fast lane borrows it) while it waits on a handler: the connection waits on this
/// beside the handler and ends itself when it fires, as a shut-down socket would end it.
#[derive(Debug, Default)]
pub(super) struct Cut(Notify);

impl Cut {
    /// Completes once the drain deadline has passed.
    pub(super) async fn fired(&self) {
        self.0.notified().await;
    }
}

impl ForceClose for Cut {
    fn force_close(&self) {
        // Kept if nobody waits yet: the next wait completes at once.
        self.0.notify_one();
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.shared.leave(self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const LIMIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn shutdown_signals_live_connections_and_waits_for_them() {
        let drain = Drain::default();
        let signal = drain.enter();
        let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
        let connection = tokio::spawn(async move {
            signal.await;
            closed_rx.await.ok();
        });
        let mut shutdown = std::pin::pin!(drain.shutdown());
        // Still waiting: the connection has not closed yet.
        assert!(futures_poll_once(shutdown.as_mut()).await.is_pending());
        closed_tx.send(()).ok();
        tokio::time::timeout(LIMIT, shutdown)
            .await
            .expect("drain completes once the connection closes");
        connection.await.expect("connection task");
    }

    #[tokio::test]
    async fn an_announced_drain_leaves_connections_open_until_they_close() {
        let drain = Drain::default();
        let closing = drain.closing();
        let mut signal = drain.enter();
        assert!(!closing.is_set() && !signal.started());
        drain.announce();
        assert!(
            closing.is_set() && signal.started(),
            "answers close from now on"
        );
        let mut announce = std::pin::pin!(drain.all_closed());
        assert!(futures_poll_once(announce.as_mut()).await.is_pending());
        assert!(
            futures_poll_once(Pin::new(&mut signal)).await.is_pending(),
            "an idle connection is not told to close"
        );
        drop(signal);
        tokio::time::timeout(LIMIT, announce)
            .await
            .expect("the announcement ends with the last connection");
    }

    #[tokio::test]
    async fn shutdown_without_connections_returns_at_once() {
        tokio::time::timeout(LIMIT, Drain::default().shutdown())
            .await
            .expect("nothing to wait for");
    }

    async fn futures_poll_once<F: Future + Unpin>(future: F) -> Poll<F::Output> {
        let mut future = Some(future);
        std::future::poll_fn(|cx| {
            let polled = Pin::new(future.as_mut().expect("polled once")).poll(cx);
            Poll::Ready(polled)
        })
        .await
    }
}
