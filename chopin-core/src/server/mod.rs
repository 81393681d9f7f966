//! Binding and serving. Both modes are functions of (bound listener, router, shutdown).
//!
//! - [`standard`]: `axum::serve` on one listener.
//! - [`signal`]: the SIGINT/SIGTERM future `run` waits on.

mod signal;
mod standard;

use std::{future::Future, net::SocketAddr, time::Duration};

use axum::Router;
use tokio::net::TcpListener;

use crate::{config::ServerMode, error::Error};

/// An application bound to its address, ready to serve.
///
/// Obtained from [`App::bind`](crate::App::bind); binding first lets callers learn the
/// address (port `0` picks a free one) before serving.
#[must_use = "a bound server does nothing until `run` or `serve` is awaited"]
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: Router,
    mode: ServerMode,
    shutdown_timeout: Duration,
}

impl Server {
    pub(crate) async fn bind(
        host: &str,
        port: u16,
        router: Router,
        mode: ServerMode,
        shutdown_timeout: Duration,
    ) -> Result<Self, Error> {
        let listener = bind(host, port).await?;
        let local_addr = listener.local_addr().map_err(Error::serve)?;
        Ok(Self {
            listener,
            local_addr,
            router,
            mode,
            shutdown_timeout,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The mode this server runs in.
    pub fn mode(&self) -> ServerMode {
        self.mode
    }

    /// Serves until SIGINT (Ctrl-C) or SIGTERM, then drains: stops accepting, lets
    /// in-flight requests finish for up to `SHUTDOWN_TIMEOUT_SECS`.
    ///
    /// # Errors
    ///
    /// If serving fails in a way the server cannot recover from.
    pub async fn run(self) -> Result<(), Error> {
        self.serve(signal::shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, then drains as [`Server::run`] does.
    ///
    /// # Errors
    ///
    /// As [`Server::run`].
    pub async fn serve<F>(self, shutdown: F) -> Result<(), Error>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        tracing::info!(addr = %self.local_addr, mode = %self.mode, "listening");
        if self.mode == ServerMode::Performance {
            tracing::warn!("performance mode is not available yet; serving in standard mode");
        }
        standard::serve(self.listener, self.router, shutdown, self.shutdown_timeout)
            .await
            .map_err(Error::serve)
    }
}

/// Binds the first address `host` resolves to that accepts the bind.
async fn bind(host: &str, port: u16) -> Result<TcpListener, Error> {
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Error::resolve(host, e))?;
    let mut last_error = None;
    for addr in addrs {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(e) => last_error = Some(Error::bind(addr, e)),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        Error::resolve(
            host,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses"),
        )
    }))
}
