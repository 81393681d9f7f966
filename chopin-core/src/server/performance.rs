//! Performance mode: one OS thread per listener, each with its own current-thread
//! runtime, accepting on its own `SO_REUSEPORT` socket and serving every connection it
//! accepts itself, with hyper's HTTP/1.1 and no work stealing.

use std::{io, net::TcpListener as StdTcpListener, time::Duration};

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, sync::watch};

use super::{
    drain::Drain,
    service::{AppService, ChopinService},
    timer::CoarseTimer,
};
use crate::config::defaults;

/// How long a worker pauses after an accept error such as `EMFILE`, instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, Debug)]
pub(super) struct Settings {
    pub(super) header_read_timeout: Option<Duration>,
    pub(super) drain: Duration,
}

/// Serves on every listener until `shutdown`, then drains each worker within
/// `settings.drain`.
pub(super) async fn serve<S, F>(
    listeners: Vec<StdTcpListener>,
    service: ChopinService<S>,
    settings: Settings,
    shutdown: F,
) -> io::Result<()>
where
    S: AppService,
    F: Future<Output = ()> + Send + 'static,
{
    // Dropping `stop` (also on an early return) tells every worker to drain.
    let (stop, stopped) = watch::channel(());
    let mut workers = Vec::with_capacity(listeners.len());
    for (index, listener) in listeners.into_iter().enumerate() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (service, stopped) = (service.clone(), stopped.clone());
        let worker = std::thread::Builder::new()
            .name(format!("chopin-worker-{index}"))
            .spawn(move || runtime.block_on(worker(listener, service, settings, stopped)))?;
        workers.push(worker);
    }
    drop(stopped);

    shutdown.await;
    drop(stop);
    let all_joined = tokio::task::spawn_blocking(move || {
        workers.into_iter().all(|worker| worker.join().is_ok())
    })
    .await
    .unwrap_or(false);
    if all_joined {
        Ok(())
    } else {
        Err(io::Error::other(
            "a performance-mode worker thread panicked",
        ))
    }
}

async fn worker<S: AppService>(
    listener: StdTcpListener,
    service: ChopinService<S>,
    settings: Settings,
    mut stopped: watch::Receiver<()>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(%err, "cannot register listener with the runtime");
            return;
        }
    };
    tokio::spawn(CoarseTimer.sweep());
    let mut http = http1::Builder::new();
    http.timer(CoarseTimer)
        .keep_alive(true)
        // Answers to pipelined requests leave in one write instead of one each.
        .pipeline_flush(true)
        .header_read_timeout(settings.header_read_timeout)
        .max_buf_size(defaults::MAX_HEADER_BYTES);
    let drain = Drain::default();

    loop {
        tokio::select! {
            biased;
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    if let Err(err) = stream.set_nodelay(true) {
                        tracing::debug!(%err, "cannot set TCP_NODELAY");
                    }
                    let connection = drain.watch(
                        http.serve_connection(TokioIo::new(stream), service.clone()),
                    );
                    tokio::spawn(async move {
                        if let Err(err) = connection.await {
                            tracing::debug!(%err, "connection error");
                        }
                    });
                }
                Err(err) if is_per_connection(&err) => {
                    tracing::debug!(%err, "accept failed for one connection");
                }
                Err(err) => {
                    tracing::error!(%err, "accept failed; pausing");
                    tokio::select! {
                        _ = stopped.changed() => break,
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    }
                }
            },
        }
    }

    drop(listener);
    if tokio::time::timeout(settings.drain, drain.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(drain = ?settings.drain, "in-flight requests did not finish in time; closing them");
    }
}

/// Errors that concern only the connection being accepted, not the listener.
fn is_per_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
