//! Standard mode: `axum::serve` on one listener, on the caller's multi-threaded runtime.

use std::{future::Future, io, sync::Arc, time::Duration};

use axum::serve::ListenerExt;
use tokio::{net::TcpListener, sync::Notify};
use tower::make::Shared;

use super::service::{AppService, ChopinService};

/// Serves `service` on `listener` until `shutdown`, then gives in-flight requests up to
/// `drain` to finish.
pub(super) async fn serve<S, F>(
    listener: TcpListener,
    service: ChopinService<S>,
    shutdown: F,
    drain: Duration,
) -> io::Result<()>
where
    S: AppService,
    F: Future<Output = ()> + Send + 'static,
{
    // Nagle's algorithm delays small responses behind delayed ACKs; pipelining and
    // keep-alive clients stall on it.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY");
        }
    });
    let signalled = Arc::new(Notify::new());
    let notify = Arc::clone(&signalled);
    let server = axum::serve(listener, Shared::new(service)).with_graceful_shutdown(async move {
        shutdown.await;
        notify.notify_one();
    });
    tokio::select! {
        result = server.into_future() => result,
        () = async {
            signalled.notified().await;
            tokio::time::sleep(drain).await;
        } => {
            // axum::serve's connection tasks live on the caller's runtime; they end when
            // it shuts down, which for `run()` in `main` is right after this returns.
            tracing::warn!(?drain, "in-flight requests did not finish in time; no longer waiting");
            Ok(())
        }
    }
}
