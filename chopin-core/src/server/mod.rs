//! Binding and serving. Both modes are functions of (bound listeners, router, shutdown).
//!
//! - [`bind`]: resolving the host, one listener or one `SO_REUSEPORT` listener per worker.
//! - [`connection`]: the connection policy both modes share: the connection cap, HTTP/1
//!   or HTTP/2, head limit, timeouts, upgrades, drain.
//! - [`fast_lane`]: performance mode's own read-parse-write loop for fast routes and
//!   most router requests, in front of hyper.
//! - [`router_lane`]: how the fast lane builds a router request and writes its answer
//!   as hyper would.
//! - [`date`]: the per-thread `Date` cache of the fast lane.
//! - [`io`]: the socket as hyper sees it (replayed first bytes, write timeout).
//! - [`standard`]: one listener on the caller's multi-threaded runtime.
//! - [`performance`]: per-core threads, runtimes and listeners, and their supervision.
//! - [`drain`]: asking connections to close at shutdown, and waiting for them.
//! - [`service`]: the request path of both modes, fast routes then the router.
//! - [`timer`]: the coarse per-thread timer behind performance mode's timeouts, and
//!   the first-head deadline that keeps one header-read budget across stages.
//! - [`signal`]: SIGINT and SIGTERM, which `run` waits on, told apart.

mod bind;
mod connection;
mod date;
mod drain;
mod fast_lane;
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing;
mod h2_idle;
mod io;
mod performance;
mod router_lane;
mod service;
mod signal;
mod standard;
mod timer;

use std::{future::Future, net::SocketAddr, time::Duration};

use hyper_util::rt::TokioTimer;
use tokio::sync::Semaphore;

use self::{
    connection::Http,
    service::ChopinService,
    signal::{Signals, Stop},
    timer::CoarseTimer,
};

/// Answers waiting to be written, in either HTTP/1 path, are written before more
/// requests are answered once they reach this many bytes: a client that pipelines
/// without reading holds at most about this much per connection.
const BATCH_LIMIT: usize = 64 * 1024;

/// A write buffer that grew past this for a large batch is freed once the batch is
/// written, instead of being kept for the rest of a keep-alive connection.
const KEEP_BUFFER: usize = 16 * 1024;
pub(crate) use self::signal::shutdown_signal;
use crate::{
    config::{Config, ServerMode},
    error::Error,
    fast_route::FastRoutes,
    health::Readiness,
    jobs::Workers,
    middleware::{self, Stamp},
    routes::Routes,
};

/// An application bound to its address, ready to serve.
///
/// Obtained from [`App::bind`](crate::App::bind); binding first lets callers learn the
/// address (port `0` picks a free one) before serving.
#[must_use = "a bound server does nothing until `run` or `serve` is awaited"]
#[derive(Debug)]
pub struct Server {
    listeners: Listeners,
    local_addr: SocketAddr,
    routes: Routes,
    fast_routes: FastRoutes,
    config: Config,
    /// The job workers, started with the server and drained with it.
    workers: Option<Workers>,
    /// SIGINT/SIGTERM, listened for from `bind` on: a signal that arrives between
    /// `bind` and `run` (while the caller prints its banner, say) drains the server
    /// instead of killing the process with the signal.
    signals: Signals,
    /// What `/readyz` answers; turned off the moment shutdown begins.
    readiness: Readiness,
}

#[derive(Debug)]
enum Listeners {
    Standard(tokio::net::TcpListener),
    Performance(Vec<std::net::TcpListener>),
}

impl Server {
    pub(crate) async fn bind(
        config: Config,
        routes: Routes,
        fast_routes: FastRoutes,
        workers: Option<Workers>,
        readiness: Readiness,
    ) -> Result<Self, Error> {
        let (listeners, local_addr) = match config.mode {
            ServerMode::Standard => {
                let listener = bind::one(&config.host, config.port).await?;
                let addr = listener.local_addr().map_err(Error::serve)?;
                (Listeners::Standard(listener), addr)
            }
            ServerMode::Performance => {
                let listeners =
                    bind::reuseport(&config.host, config.port, config.workers, config.backlog)
                        .await?;
                let addr = listeners
                    .first()
                    .ok_or_else(|| Error::serve(std::io::Error::other("no workers")))?
                    .local_addr()
                    .map_err(Error::serve)?;
                (Listeners::Performance(listeners), addr)
            }
        };
        Ok(Self {
            listeners,
            local_addr,
            routes,
            fast_routes,
            config,
            workers,
            signals: Signals::new(),
            readiness,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The mode this server runs in.
    pub fn mode(&self) -> ServerMode {
        self.config.mode
    }

    /// Serves until SIGINT (Ctrl-C) or SIGTERM, then drains: stops accepting, lets
    /// in-flight requests finish for up to `SHUTDOWN_TIMEOUT_SECS`. `/readyz` answers
    /// `503` from the signal on; after SIGTERM, if something has asked `/readyz`, the
    /// server keeps serving for `SHUTDOWN_DELAY_SECS` before it drains, so that a load
    /// balancer polling it moves on first (a second signal cuts that short).
    ///
    /// # Errors
    ///
    /// If serving fails in a way the server cannot recover from.
    pub async fn run(self) -> Result<(), Error> {
        self.serve(std::future::pending()).await
    }

    /// Serves until `shutdown` completes, or SIGINT or SIGTERM arrives, then drains as
    /// [`Server::run`] does; `shutdown` completing counts as SIGTERM. The signals are
    /// listened for from `bind` on: one that arrives between `bind` and serving drains
    /// the server instead of killing the process.
    ///
    /// Upgraded connections (WebSockets) are part of the drain. When its deadline
    /// passes, the sockets still open are shut down, in both modes, and their handlers
    /// get a second more to let them go; one that still runs is left to its runtime
    /// (performance mode's workers stop theirs; standard mode's is the caller's).
    ///
    /// # Errors
    ///
    /// As [`Server::run`].
    pub async fn serve<F>(self, shutdown: F) -> Result<(), Error>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let drain = self.config.shutdown_timeout;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let workers = (self.workers).map(|workers| tokio::spawn(workers.run(stopped, drain)));
        let (mut signals, readiness) = (self.signals, self.readiness);
        let delay = self.config.shutdown_delay;
        // How long the drain is announced before idle connections are closed.
        let (announce, linger) = tokio::sync::watch::channel(Duration::ZERO);
        let shutdown = async move {
            let announced = begin_shutdown(shutdown, &mut signals, &readiness, delay).await;
            announce.send_replace(announced);
            if !announced.is_zero() {
                tokio::spawn(async move {
                    tokio::select! {
                        _ = signals.recv() => {
                            tracing::info!("another signal: closing idle connections now");
                            announce.send_replace(Duration::ZERO);
                        }
                        // Every listener has drained.
                        () = announce.closed() => {}
                    }
                });
            }
            // The workers drain alongside the connections, under the same deadline.
            let _ = stop.send(true);
        };
        let answers = middleware::FixedAnswers::new(&self.config);
        // `ChopinService` checks `Host` before the fast routes.
        let (host, config) = (middleware::HostCheck::Done, &self.config);
        let lane_app = middleware::wrap(self.routes.clone(), config, host, Stamp::ByServer);
        let app = middleware::wrap(self.routes, config, host, Stamp::Here);
        let service = ChopinService::new(self.fast_routes, app, lane_app, answers);
        // One cap for the whole process, whichever worker accepts.
        let cap = std::sync::Arc::new(Semaphore::new(self.config.max_connections));
        let served = match self.listeners {
            Listeners::Standard(listener) => {
                tracing::info!(addr = %self.local_addr, mode = "standard", "listening");
                // The fast lane is per connection, not per core: standard mode's
                // connections start in it too.
                let fast_lane = self.config.fast_lane.then(|| service.fast_routes());
                let http = Http::new(&self.config, TokioTimer::new(), fast_lane);
                standard::serve(listener, service, http, cap, shutdown, linger, drain).await;
                Ok(())
            }
            Listeners::Performance(listeners) => {
                tracing::info!(
                    addr = %self.local_addr,
                    mode = "performance",
                    workers = listeners.len(),
                    "listening"
                );
                let fast_lane = self.config.fast_lane.then(|| service.fast_routes());
                let http = Http::new(&self.config, CoarseTimer, fast_lane);
                performance::serve(listeners, service, http, cap, shutdown, linger, drain).await
            }
        };
        if let Some(workers) = workers {
            // A worker task that panicked has already logged it; its jobs' leases expire.
            let _ = workers.await;
        }
        served.map_err(Error::serve)
    }
}

/// Waits for `shutdown` or a signal and turns readiness off. Then, unless the signal
/// was SIGINT, `delay` is zero or nothing has asked `/readyz` (so nothing would notice),
/// keeps serving for `delay`, cut short by another signal: a load balancer polling
/// `/readyz` stops sending requests before the listener closes.
///
/// Returns how long the drain is only announced once the listener has closed (see
/// `drain`): `delay`, for the proxies that pool connections to this instance; nothing
/// after SIGINT or a second signal, which want the process gone.
async fn begin_shutdown(
    shutdown: impl Future<Output = ()>,
    signals: &mut Signals,
    readiness: &Readiness,
    delay: Duration,
) -> Duration {
    let stop = tokio::select! {
        () = shutdown => None,
        stop = signals.recv() => Some(stop),
    };
    readiness.drain();
    let cause = match stop {
        None => "shutdown requested",
        Some(Stop::Interrupt) => "SIGINT",
        Some(Stop::Terminate) => "SIGTERM",
    };
    if stop == Some(Stop::Interrupt) || delay.is_zero() {
        tracing::info!("{cause}: draining");
        return Duration::ZERO;
    }
    if !readiness.is_polled() {
        tracing::info!("{cause}: draining; answers close their connections");
        return delay;
    }
    tracing::info!(
        delay_secs = delay.as_secs(),
        "{cause}: /readyz answers 503; serving on for SHUTDOWN_DELAY_SECS, then draining (a second SIGINT or SIGTERM drains now)"
    );
    tokio::select! {
        () = tokio::time::sleep(delay) => {
            tracing::info!("draining; answers close their connections");
            delay
        }
        _ = signals.recv() => {
            tracing::info!("second signal: draining now");
            Duration::ZERO
        }
    }
}
