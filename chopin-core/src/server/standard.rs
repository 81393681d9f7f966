//! Standard mode: one listener on the caller's multi-threaded runtime, connections
//! spread over its threads by tokio's scheduler.

use std::{future::Future, sync::Arc, time::Duration};

use hyper_util::rt::TokioTimer;
use tokio::{
    net::TcpListener,
    sync::{Semaphore, watch},
};

use super::{
    connection::{self, Http},
    service::{AppService, ChopinService},
};

/// Serves `service` on `listener` until `shutdown`, then gives in-flight requests up to
/// `drain` to finish, announcing the drain for as long as `linger` says.
pub(super) async fn serve<S, F>(
    listener: TcpListener,
    service: ChopinService<S>,
    http: Http<TokioTimer>,
    cap: Arc<Semaphore>,
    shutdown: F,
    linger: watch::Receiver<Duration>,
    drain: Duration,
) where
    S: AppService,
    F: Future<Output = ()> + Send + 'static,
{
    // When the drain deadline passes, the connection tasks left are on the caller's
    // runtime; they end when it shuts down, which for `run()` in `main` is right after
    // this returns.
    let http = Arc::new(http);
    connection::serve(listener, &http, &service, &cap, shutdown, linger, drain).await;
}
