//! A coarse timer for hyper's timeouts in performance mode.
//!
//! hyper creates, polls and drops a header-read sleep for every request. With tokio's
//! timer each one is a timer-wheel insert and removal behind the time driver's lock:
//! the timeout cost about 1,300 instructions per request, a sixth of a fast route, and
//! about 870 with this timer (`bench/callgrind.sh`). Here a sleep that has to
//! wait puts its waker in its worker thread's slab (no lock, no hashing), and a sweep
//! once a second wakes the sleeps whose deadline has passed. A timeout therefore fires
//! up to one second late, which is fine for a limit measured in seconds.
//!
//! Performance-mode connections never leave the thread that accepted them, so the
//! registry is thread-local; a sleep dropped on another thread just leaves its slot to
//! be woken and reused by the sweep.

use std::{
    cell::RefCell,
    future::Future,
    pin::Pin,
    sync::atomic::{AtomicBool, Ordering},
    task::{Context, Poll, Waker},
    thread::{self, ThreadId},
    time::{Duration, Instant},
};

/// How often expired sleeps are woken.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

thread_local! {
    static REGISTRY: RefCell<Registry> = const {
        RefCell::new(Registry { slots: Vec::new(), free: Vec::new(), next_key: 0 })
    };
}

struct Registry {
    slots: Vec<Option<Entry>>,
    free: Vec<usize>,
    next_key: u64,
}

struct Entry {
    /// Tells this entry from a later one in the same slot.
    key: u64,
    deadline: Instant,
    waker: Waker,
}

/// Where a waiting sleep's waker is: thread, slot, key.
type Registration = (ThreadId, usize, u64);

impl Registry {
    fn insert(&mut self, deadline: Instant, waker: Waker) -> (usize, u64) {
        self.next_key += 1;
        let entry = Some(Entry {
            key: self.next_key,
            deadline,
            waker,
        });
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = entry;
                slot
            }
            None => {
                self.slots.push(entry);
                self.slots.len() - 1
            }
        };
        (slot, self.next_key)
    }

    fn get_mut(&mut self, slot: usize, key: u64) -> Option<&mut Entry> {
        self.slots
            .get_mut(slot)?
            .as_mut()
            .filter(|entry| entry.key == key)
    }

    fn remove(&mut self, slot: usize, key: u64) {
        if self.get_mut(slot, key).is_some() {
            self.slots[slot] = None;
            self.free.push(slot);
        }
    }
}

/// The timer a performance-mode worker hands to hyper.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct CoarseTimer;

impl CoarseTimer {
    /// Wakes this thread's expired sleeps once a second, until the runtime stops. Spawn
    /// it on the worker's current-thread runtime.
    pub(super) async fn sweep(self) {
        let mut interval = tokio::time::interval(SWEEP_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let now = Instant::now();
            REGISTRY.with_borrow_mut(|registry| {
                for slot in 0..registry.slots.len() {
                    if registry.slots[slot]
                        .as_ref()
                        .is_some_and(|entry| entry.deadline <= now)
                    {
                        // Woken once: a sleep that is polled again re-registers.
                        if let Some(entry) = registry.slots[slot].take() {
                            registry.free.push(slot);
                            entry.waker.wake();
                        }
                    }
                }
            });
        }
    }
}

impl hyper::rt::Timer for CoarseTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(CoarseSleep {
            deadline,
            registered: None,
        })
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<CoarseSleep>() {
            Some(mut sleep) => {
                sleep.unregister();
                sleep.deadline = new_deadline;
            }
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// A timer whose first sleep ends no later than `first`: hyper arms its header-read
/// timeout with its first sleep on a connection, which would give a first head that an
/// earlier stage began reading the whole timeout again.
#[derive(Debug)]
pub(super) struct FirstDeadline<T> {
    timer: T,
    first: Instant,
    used: AtomicBool,
}

impl<T> FirstDeadline<T> {
    pub(super) fn new(timer: T, first: Instant) -> Self {
        Self {
            timer,
            first,
            used: AtomicBool::new(false),
        }
    }

    fn deadline(&self, deadline: Instant) -> Instant {
        if self.used.swap(true, Ordering::Relaxed) {
            deadline
        } else {
            deadline.min(self.first)
        }
    }
}

impl<T: hyper::rt::Timer> hyper::rt::Timer for FirstDeadline<T> {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.timer.sleep_until(self.deadline(deadline))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        self.timer.reset(sleep, self.deadline(new_deadline));
    }
}

struct CoarseSleep {
    deadline: Instant,
    /// Where this sleep's waker is registered, while it waits.
    registered: Option<Registration>,
}

impl CoarseSleep {
    fn unregister(&mut self) {
        if let Some((owner, slot, key)) = self.registered.take()
            && owner == thread::current().id()
        {
            REGISTRY.with_borrow_mut(|registry| registry.remove(slot, key));
        }
    }
}

impl Future for CoarseSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.deadline <= Instant::now() {
            this.unregister();
            return Poll::Ready(());
        }
        let current = thread::current().id();
        REGISTRY.with_borrow_mut(|registry| {
            let entry = this
                .registered
                .filter(|(owner, _, _)| *owner == current)
                .and_then(|(_, slot, key)| registry.get_mut(slot, key));
            match entry {
                Some(entry) if entry.waker.will_wake(cx.waker()) => {}
                Some(entry) => entry.waker = cx.waker().clone(),
                None => {
                    let (slot, key) = registry.insert(this.deadline, cx.waker().clone());
                    this.registered = Some((current, slot, key));
                }
            }
        });
        Poll::Pending
    }
}

impl hyper::rt::Sleep for CoarseSleep {}

impl Drop for CoarseSleep {
    fn drop(&mut self) {
        self.unregister();
    }
}

#[cfg(test)]
mod tests {
    use hyper::rt::Timer as _;

    use super::*;

    fn registered() -> usize {
        REGISTRY.with_borrow(|r| r.slots.iter().filter(|s| s.is_some()).count())
    }

    /// Fails a test instead of letting a broken timer hang it.
    const LIMIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn fires_after_the_deadline_within_a_sweep() {
        tokio::spawn(CoarseTimer.sweep());
        let started = Instant::now();
        tokio::time::timeout(LIMIT, CoarseTimer.sleep(Duration::from_millis(200)))
            .await
            .expect("fires");
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(200), "{waited:?}");
        assert!(waited < Duration::from_millis(1500), "{waited:?}");
    }

    #[tokio::test]
    async fn reset_moves_the_deadline() {
        tokio::spawn(CoarseTimer.sweep());
        let mut sleep = CoarseTimer.sleep(Duration::from_secs(3600));
        let started = Instant::now();
        CoarseTimer.reset(&mut sleep, Instant::now() + Duration::from_millis(100));
        tokio::time::timeout(LIMIT, sleep)
            .await
            .expect("fires at the new deadline, not the old one");
        assert!(started.elapsed() < Duration::from_millis(1500));
    }

    #[test]
    fn a_woken_slot_reused_by_another_sleep_is_not_freed_by_the_first() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut first = CoarseTimer.sleep(Duration::from_secs(3600));
        assert!(first.as_mut().poll(&mut cx).is_pending());
        // What the sweep does to an expired entry: wake it and free its slot.
        REGISTRY.with_borrow_mut(|r| {
            let slot = r.slots.iter().position(Option::is_some).unwrap();
            r.slots[slot] = None;
            r.free.push(slot);
        });
        let mut second = CoarseTimer.sleep(Duration::from_secs(3600));
        assert!(second.as_mut().poll(&mut cx).is_pending());
        let before = registered();
        drop(first);
        assert_eq!(registered(), before, "the second sleep keeps its slot");
        drop(second);
        assert_eq!(registered(), before - 1);
    }

    #[test]
    fn waiting_sleeps_register_once_and_leave_when_dropped() {
        let mut sleep = CoarseTimer.sleep(Duration::from_secs(3600));
        let mut cx = Context::from_waker(Waker::noop());
        let before = registered();
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        assert_eq!(registered(), before + 1);
        drop(sleep);
        assert_eq!(registered(), before);
    }
}
