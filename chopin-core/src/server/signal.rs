//! The shutdown signals: SIGINT (Ctrl-C) and SIGTERM.

use std::future::{Future, pending};

/// Which signal asked the server to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// SIGINT: a person at a terminal (Ctrl-C), who wants the process gone now.
    Interrupt,
    /// SIGTERM: a process manager or orchestrator, which may still be routing requests
    /// here.
    Terminate,
}

/// SIGINT and SIGTERM, listened for from [`Signals::new`] on.
#[derive(Debug)]
pub(crate) struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Installs the handlers by this call, not when first awaited: a signal that arrives
    /// while the server is still starting then starts the drain instead of killing the
    /// process.
    pub(crate) fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let install = |kind: SignalKind, name: &'static str| match signal(kind) {
                Ok(listener) => Some(listener),
                Err(err) => {
                    tracing::warn!(%err, "cannot listen for {name}");
                    None
                }
            };
            Self {
                interrupt: install(SignalKind::interrupt(), "SIGINT"),
                terminate: install(SignalKind::terminate(), "SIGTERM"),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// The next SIGINT or SIGTERM; never, for a signal that cannot be listened for.
    pub(crate) async fn recv(&mut self) -> Stop {
        #[cfg(unix)]
        {
            async fn next(listener: &mut Option<tokio::signal::unix::Signal>) {
                let received = match listener {
                    Some(listener) => listener.recv().await.is_some(),
                    None => false,
                };
                if !received {
                    pending::<()>().await;
                }
            }
            tokio::select! {
                () = next(&mut self.interrupt) => Stop::Interrupt,
                () = next(&mut self.terminate) => Stop::Terminate,
            }
        }
        #[cfg(not(unix))]
        {
            if let Err(err) = tokio::signal::ctrl_c().await {
                tracing::warn!(%err, "cannot listen for Ctrl-C");
                pending::<()>().await;
            }
            Stop::Interrupt
        }
    }
}

/// Completes on the first SIGINT or SIGTERM, listened for from this call on.
pub(crate) fn shutdown_signal() -> impl Future<Output = ()> {
    let mut signals = Signals::new();
    async move {
        let stop = signals.recv().await;
        tracing::info!(?stop, "shutdown signal received; draining");
    }
}
