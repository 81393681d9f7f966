//! The shutdown signal: SIGINT (Ctrl-C) or SIGTERM.

use std::future::{Future, pending};

/// Completes on the first SIGINT or SIGTERM. The handlers are installed by this call,
/// not when the future is first polled: a signal that arrives while the server is still
/// starting its workers then starts the drain instead of killing the process.
pub(crate) fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |listener: std::io::Result<tokio::signal::unix::Signal>,
                        name: &'static str| async move {
                match listener {
                    Ok(mut listener) => {
                        listener.recv().await;
                    }
                    Err(err) => {
                        tracing::warn!(%err, "cannot listen for {name}");
                        pending::<()>().await;
                    }
                }
            };
            tokio::select! {
                () = wait(interrupt, "SIGINT") => {}
                () = wait(terminate, "SIGTERM") => {}
            }
        }
        #[cfg(not(unix))]
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(%err, "cannot listen for Ctrl-C");
            pending::<()>().await;
        }
        tracing::info!("shutdown signal received; draining");
    }
}
