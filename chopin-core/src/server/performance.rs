//! Performance mode: one OS thread per listener, each with its own current-thread
//! runtime, accepting on its own `SO_REUSEPORT` socket and serving every connection it
//! accepts itself, with no work stealing.
//!
//! Resources shared by the workers, such as the database pool, hold sockets registered
//! with the runtime that opened them. So no worker drops its runtime while another one
//! still drains: each keeps its runtime turning until all have finished. A worker that
//! stops before shutdown stops the whole server with an error, instead of leaving it
//! serving at reduced capacity without saying so.

use std::{io, net::TcpListener as StdTcpListener, sync::Arc, thread::JoinHandle, time::Duration};

use tokio::{
    net::TcpListener,
    sync::{Semaphore, mpsc, watch},
};

use super::{
    connection::{self, Http},
    service::{AppService, ChopinService},
    timer::CoarseTimer,
};

/// How long a drained worker keeps its runtime turning for the others beyond the drain
/// deadline they all share.
const LINGER_MARGIN: Duration = Duration::from_secs(1);

/// Serves on every listener until `shutdown`, then drains each worker within `drain`,
/// announcing the drain for as long as `linger` says.
///
/// # Errors
///
/// If a worker cannot start, or stops (panics or returns) before `shutdown`.
pub(super) async fn serve<S, F>(
    listeners: Vec<StdTcpListener>,
    service: ChopinService<S>,
    http: Http<CoarseTimer>,
    cap: Arc<Semaphore>,
    shutdown: F,
    linger: watch::Receiver<Duration>,
    drain: Duration,
) -> io::Result<()>
where
    S: AppService,
    F: Future<Output = ()> + Send + 'static,
{
    let http = Arc::new(http);
    let workers = listeners.into_iter().map(|listener| {
        let (http, service, cap) = (Arc::clone(&http), service.clone(), Arc::clone(&cap));
        let linger = linger.clone();
        move |stopped: watch::Receiver<bool>| {
            worker(listener, http, service, cap, stopped, linger, drain)
        }
    });
    supervise(workers, shutdown, drain, worker_runtime).await
}

fn worker_runtime(_index: usize) -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Runs each worker on its own thread, on the runtime `runtime` builds for it, until
/// `shutdown` or until one of them stops on its own.
///
/// No worker starts until every one has its runtime: a runtime takes file descriptors,
/// and a worker already accepting could take the last ones a later worker needs, which
/// would stop the server just after it said it was listening.
async fn supervise<W, Fut, F, R>(
    workers: impl ExactSizeIterator<Item = W>,
    shutdown: F,
    drain: Duration,
    runtime: R,
) -> io::Result<()>
where
    W: FnOnce(watch::Receiver<bool>) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
    F: Future<Output = ()> + Send + 'static,
    R: Fn(usize) -> io::Result<tokio::runtime::Runtime> + Clone + Send + 'static,
{
    let (start, started) = watch::channel(false);
    let (stop, stopped) = watch::channel(false);
    let (running, all_done) = watch::channel(workers.len());
    let running = Arc::new(running);
    let (exited, mut exits) = mpsc::unbounded_channel();
    let (built, mut builds) = mpsc::unbounded_channel();
    let mut threads: Vec<JoinHandle<()>> = Vec::with_capacity(workers.len());
    for (index, work) in workers.enumerate() {
        let (runtime, built) = (runtime.clone(), built.clone());
        let (mut started, stopped) = (started.clone(), stopped.clone());
        let mut all_done = all_done.clone();
        let mut finished = Finished {
            index,
            running: Arc::clone(&running),
            exited: exited.clone(),
            done: false,
        };
        let thread = std::thread::Builder::new()
            .name(format!("chopin-worker-{index}"))
            .spawn(move || {
                let runtime = match runtime(index) {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = built.send(Err(io::Error::new(
                            err.kind(),
                            format!("cannot start performance-mode worker {index}: {err}"),
                        )));
                        return;
                    }
                };
                let _ = built.send(Ok(()));
                runtime.block_on(async move {
                    // Closed without starting: another worker could not start.
                    if started.wait_for(|start| *start).await.is_err() {
                        return;
                    }
                    work(stopped).await;
                    finished.done();
                    // Other workers may still be using sockets this runtime drives.
                    let linger = drain + LINGER_MARGIN;
                    let everyone = all_done.wait_for(|running| *running == 0);
                    if tokio::time::timeout(linger, everyone).await.is_err() {
                        tracing::warn!(
                            worker = index,
                            "another worker is still draining; stopping anyway"
                        );
                    }
                });
            });
        match thread {
            Ok(thread) => threads.push(thread),
            Err(err) => {
                drop(start);
                join(threads).await;
                return Err(err);
            }
        }
    }
    drop((started, stopped, exited, built));

    for _ in 0..threads.len() {
        let failed = match builds.recv().await {
            Some(Ok(())) => continue,
            Some(Err(err)) => err,
            None => io::Error::other("a performance-mode worker thread panicked"),
        };
        drop(start);
        join(threads).await;
        return Err(failed);
    }
    start.send_replace(true);

    let died = tokio::select! {
        () = shutdown => None,
        Some(index) = exits.recv() => Some(index),
    };
    if let Some(index) = died {
        tracing::error!(
            worker = index,
            "a performance-mode worker stopped; shutting the server down"
        );
    }
    stop.send_replace(true);
    let all_joined = join(threads).await;
    match died {
        Some(index) => Err(io::Error::other(format!(
            "performance-mode worker {index} stopped unexpectedly"
        ))),
        None if !all_joined => Err(io::Error::other(
            "a performance-mode worker thread panicked",
        )),
        None => Ok(()),
    }
}

async fn join(threads: Vec<JoinHandle<()>>) -> bool {
    tokio::task::spawn_blocking(move || threads.into_iter().all(|thread| thread.join().is_ok()))
        .await
        .unwrap_or(false)
}

/// Marks a worker finished, whether it returned or panicked; tells the supervisor if it
/// was before the drain.
struct Finished {
    index: usize,
    running: Arc<watch::Sender<usize>>,
    exited: mpsc::UnboundedSender<usize>,
    done: bool,
}

impl Finished {
    fn done(&mut self) {
        if !self.done {
            self.done = true;
            self.running.send_modify(|running| *running -= 1);
            // Ignored after shutdown: the supervisor no longer listens.
            let _ = self.exited.send(self.index);
        }
    }
}

impl Drop for Finished {
    fn drop(&mut self) {
        self.done();
    }
}

async fn worker<S: AppService>(
    listener: StdTcpListener,
    http: Arc<Http<CoarseTimer>>,
    service: ChopinService<S>,
    cap: Arc<Semaphore>,
    mut stopped: watch::Receiver<bool>,
    linger: watch::Receiver<Duration>,
    drain: Duration,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(%err, "cannot register listener with the runtime");
            return;
        }
    };
    tokio::spawn(CoarseTimer.sweep());
    let stop = async move {
        // An error means the supervisor is gone: stop as well.
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    // Connections still open at the drain deadline close with this worker's runtime.
    connection::serve(listener, &http, &service, &cap, stop, linger, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn a_worker_that_stops_early_stops_the_server_with_an_error() {
        let workers = (0..3).map(|index| {
            move |mut stopped: watch::Receiver<bool>| async move {
                assert!(index != 1, "worker 1 fails");
                let _ = stopped.wait_for(|stop| *stop).await;
            }
        });
        let served = tokio::time::timeout(
            LIMIT,
            supervise(
                workers,
                std::future::pending(),
                Duration::from_secs(1),
                worker_runtime,
            ),
        )
        .await
        .expect("the supervisor notices at once, without a shutdown signal");
        let err = served.expect_err("a dead worker is an error");
        assert!(err.to_string().contains("worker 1 stopped"), "{err}");
    }

    #[tokio::test]
    async fn no_worker_serves_unless_every_worker_could_start() {
        let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let workers = (0..3).map(|_| {
            let served = Arc::clone(&served);
            move |mut stopped: watch::Receiver<bool>| async move {
                served.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = stopped.wait_for(|stop| *stop).await;
            }
        });
        let runtime = |index: usize| {
            if index == 2 {
                return Err(io::Error::from_raw_os_error(24));
            }
            worker_runtime(index)
        };
        let started = tokio::time::timeout(
            LIMIT,
            supervise(workers, std::future::pending(), LIMIT, runtime),
        )
        .await
        .expect("startup fails at once, without a shutdown signal");
        let err = started.expect_err("a worker without a runtime is an error");
        assert!(
            err.to_string()
                .starts_with("cannot start performance-mode worker 2: Too many open files"),
            "{err}"
        );
        assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn workers_keep_their_runtimes_until_every_worker_has_drained() {
        let (first_done_tx, first_done_rx) = std::sync::mpsc::channel::<()>();
        let first_done_rx = std::sync::Mutex::new(Some(first_done_rx));
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let release_rx = std::sync::Mutex::new(Some(release_rx));
        let (lingered_tx, lingered_rx) = std::sync::mpsc::channel::<bool>();
        // Worker 0 drains at once; worker 1 holds its drain until released. Worker 0's
        // runtime must still be running then: a task spawned on it answers.
        let (probe_tx, probe_rx) = std::sync::mpsc::channel::<tokio::runtime::Handle>();
        let probe_rx = std::sync::Mutex::new(Some(probe_rx));
        let workers = (0..2).map(move |index| {
            let probe_tx = probe_tx.clone();
            let first_done_tx = first_done_tx.clone();
            let first_done_rx = first_done_rx
                .lock()
                .ok()
                .and_then(|mut rx| if index == 1 { rx.take() } else { None });
            let release_rx = release_rx
                .lock()
                .ok()
                .and_then(|mut rx| if index == 1 { rx.take() } else { None });
            let probe_rx = probe_rx
                .lock()
                .ok()
                .and_then(|mut rx| if index == 1 { rx.take() } else { None });
            let lingered_tx = lingered_tx.clone();
            move |mut stopped: watch::Receiver<bool>| async move {
                let _ = stopped.wait_for(|stop| *stop).await;
                if index == 0 {
                    probe_tx.send(tokio::runtime::Handle::current()).ok();
                    first_done_tx.send(()).ok();
                } else if let (Some(first_done), Some(release), Some(probe_rx)) =
                    (first_done_rx, release_rx, probe_rx)
                {
                    let first = tokio::task::spawn_blocking(move || first_done.recv_timeout(LIMIT));
                    assert!(matches!(first.await, Ok(Ok(()))), "worker 0 finished");
                    let handle = probe_rx.recv_timeout(LIMIT).expect("worker 0's runtime");
                    let answered = handle.spawn(async { 42 }).await;
                    lingered_tx.send(matches!(answered, Ok(42))).ok();
                    release.await.ok();
                }
            }
        });
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(supervise(
            workers,
            async move {
                shutdown_rx.await.ok();
            },
            Duration::from_secs(5),
            worker_runtime,
        ));
        shutdown_tx.send(()).ok();
        let lingered = tokio::task::spawn_blocking(move || lingered_rx.recv_timeout(LIMIT))
            .await
            .expect("join");
        assert_eq!(lingered, Ok(true), "worker 0's runtime still ran tasks");
        release_tx.send(()).ok();
        tokio::time::timeout(LIMIT, served)
            .await
            .expect("served within the limit")
            .expect("join")
            .expect("clean shutdown");
    }
}
