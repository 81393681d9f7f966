//! Graceful drain: on shutdown, every live connection is told to close after its
//! in-flight request, and the server waits for them.
//!
//! hyper-util's `GracefulShutdown` does the same by polling a `watch` receiver on every
//! wake of every connection, which takes a lock each time. Here a connection registers
//! its waker once and afterwards only reads an atomic flag per wake.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
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
    registry: Mutex<Registry>,
    all_closed: Notify,
}

#[derive(Debug, Default)]
struct Registry {
    draining: bool,
    live: usize,
    next_id: u64,
    wakers: HashMap<u64, Waker>,
}

impl Shared {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        // The registry stays consistent even if a holder panicked: every update is a
        // single assignment or map operation.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drain {
    /// Counts one more live connection until the returned signal is dropped. The signal
    /// completes when the drain starts; the connection then finishes its in-flight
    /// request and closes.
    pub(super) fn enter(&self) -> Draining {
        let id = {
            let mut registry = self.shared.registry();
            registry.live += 1;
            registry.next_id += 1;
            registry.next_id
        };
        Draining {
            shared: Arc::clone(&self.shared),
            id,
            waker: None,
        }
    }

    /// Tells every connection to close after its in-flight request and waits until all
    /// have.
    pub(super) async fn shutdown(&self) {
        {
            let mut registry = self.shared.registry();
            registry.draining = true;
            self.shared.draining.store(true, Ordering::Release);
            for (_, waker) in registry.wakers.drain() {
                waker.wake();
            }
        }
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

impl Drop for Draining {
    fn drop(&mut self) {
        let mut registry = self.shared.registry();
        registry.wakers.remove(&self.id);
        registry.live -= 1;
        if registry.live == 0 && registry.draining {
            self.shared.all_closed.notify_waiters();
        }
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
