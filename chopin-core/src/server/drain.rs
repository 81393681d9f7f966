//! Graceful drain for one performance-mode worker: on shutdown, every live connection is
//! asked to close after its in-flight request, and the worker waits for them.
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

use hyper_util::server::graceful::GracefulConnection;
use pin_project_lite::pin_project;
use tokio::sync::Notify;

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
    /// Tracks `connection` until it completes or is dropped.
    pub(super) fn watch<C: GracefulConnection>(&self, connection: C) -> Watched<C> {
        let id = {
            let mut registry = self.shared.registry();
            registry.live += 1;
            registry.next_id += 1;
            registry.next_id
        };
        Watched {
            connection,
            shared: Arc::clone(&self.shared),
            id,
            waker: None,
            closing: false,
        }
    }

    /// Asks every connection to close after its in-flight request and waits until all
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

pin_project! {
    pub(super) struct Watched<C> {
        #[pin]
        connection: C,
        shared: Arc<Shared>,
        id: u64,
        waker: Option<Waker>,
        closing: bool,
    }

    impl<C> PinnedDrop for Watched<C> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let mut registry = this.shared.registry();
            registry.wakers.remove(this.id);
            registry.live -= 1;
            if registry.live == 0 && registry.draining {
                this.shared.all_closed.notify_waiters();
            }
        }
    }
}

impl<C: GracefulConnection> Future for Watched<C> {
    type Output = C::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if !*this.closing {
            let draining = if this.shared.draining.load(Ordering::Acquire) {
                true
            } else if this.waker.as_ref().is_none_or(|w| !w.will_wake(cx.waker())) {
                // Registered under the lock `shutdown` takes, so no wake-up is missed.
                let mut registry = this.shared.registry();
                if !registry.draining {
                    registry.wakers.insert(*this.id, cx.waker().clone());
                    *this.waker = Some(cx.waker().clone());
                }
                registry.draining
            } else {
                false
            };
            if draining {
                *this.closing = true;
                this.connection.as_mut().graceful_shutdown();
            }
        }
        this.connection.poll(cx)
    }
}
