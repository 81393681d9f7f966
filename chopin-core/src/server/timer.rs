//! A coarse timer for hyper's per-request header-read timeout in performance mode.
//!
//! hyper re-arms the header-read timeout for every request. With tokio's timer that is a
//! timer-wheel update behind the time driver's lock on every request: about a thousand
//! instructions, an eighth of a fast route. Here a connection's sleep registers with its
//! worker once; re-arming it for the next request is one atomic store, and a sweep once
//! a second wakes the connections whose deadline has passed. A timeout therefore fires
//! up to one second late, which is fine for a limit measured in seconds.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex, MutexGuard, OnceLock, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

/// How often expired sleeps are woken.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Deadlines are stored as nanoseconds since this instant, so they fit an atomic.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn to_nanos(instant: Instant) -> u64 {
    u64::try_from(instant.saturating_duration_since(epoch()).as_nanos()).unwrap_or(u64::MAX)
}

/// One per worker; hand a clone to hyper's connection builder.
#[derive(Clone, Debug, Default)]
pub(super) struct CoarseTimer {
    registry: Arc<Mutex<Registry>>,
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    sleeps: HashMap<u64, Entry>,
}

#[derive(Debug)]
struct Entry {
    deadline: Arc<AtomicU64>,
    waker: Waker,
    /// The deadline this entry was last woken for, so an expired sleep that nobody
    /// re-arms is woken once, not every sweep.
    woken_for: u64,
}

impl CoarseTimer {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        // Every update is a single map operation, consistent even after a panic.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes expired sleeps once a second, until the worker's runtime stops.
    pub(super) async fn sweep(self) {
        let mut interval = tokio::time::interval(SWEEP_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let now = to_nanos(Instant::now());
            for entry in self.registry().sleeps.values_mut() {
                let deadline = entry.deadline.load(Ordering::Acquire);
                if deadline <= now && deadline != entry.woken_for {
                    entry.woken_for = deadline;
                    entry.waker.wake_by_ref();
                }
            }
        }
    }
}

impl hyper::rt::Timer for CoarseTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(CoarseSleep {
            timer: self.clone(),
            deadline: Arc::new(AtomicU64::new(to_nanos(deadline))),
            registered: None,
        })
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<CoarseSleep>() {
            Some(sleep) => sleep
                .deadline
                .store(to_nanos(new_deadline), Ordering::Release),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

struct CoarseSleep {
    timer: CoarseTimer,
    deadline: Arc<AtomicU64>,
    /// Registry id and the waker registered with it.
    registered: Option<(u64, Waker)>,
}

impl Future for CoarseSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.deadline.load(Ordering::Acquire) <= to_nanos(Instant::now()) {
            return Poll::Ready(());
        }
        let stale = match &this.registered {
            Some((_, waker)) => !waker.will_wake(cx.waker()),
            None => true,
        };
        if stale {
            let mut registry = this.timer.registry();
            let id = match &this.registered {
                Some((id, _)) => *id,
                None => {
                    registry.next_id += 1;
                    registry.next_id
                }
            };
            registry.sleeps.insert(
                id,
                Entry {
                    deadline: Arc::clone(&this.deadline),
                    waker: cx.waker().clone(),
                    woken_for: 0,
                },
            );
            this.registered = Some((id, cx.waker().clone()));
        }
        Poll::Pending
    }
}

impl hyper::rt::Sleep for CoarseSleep {}

impl Drop for CoarseSleep {
    fn drop(&mut self) {
        if let Some((id, _)) = self.registered.take() {
            self.timer.registry().sleeps.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use hyper::rt::Timer as _;

    use super::*;

    #[tokio::test]
    async fn fires_after_the_deadline_within_a_sweep() {
        let timer = CoarseTimer::default();
        tokio::spawn(timer.clone().sweep());
        let started = Instant::now();
        timer.sleep(Duration::from_millis(200)).await;
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(200), "{waited:?}");
        assert!(waited < Duration::from_millis(1500), "{waited:?}");
    }

    #[tokio::test]
    async fn reset_moves_the_deadline() {
        let timer = CoarseTimer::default();
        tokio::spawn(timer.clone().sweep());
        let mut sleep = timer.sleep(Duration::from_secs(3600));
        let started = Instant::now();
        timer.reset(&mut sleep, Instant::now() + Duration::from_millis(100));
        sleep.await;
        assert!(started.elapsed() < Duration::from_millis(1500));
    }

    #[tokio::test]
    async fn dropped_sleeps_leave_the_registry() {
        let timer = CoarseTimer::default();
        let mut sleep = timer.sleep(Duration::from_secs(3600));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        assert_eq!(timer.registry().sleeps.len(), 1);
        drop(sleep);
        assert!(timer.registry().sleeps.is_empty());
    }
}
