//! What the fuzz target (`crate::fuzzing`) needs of the server: connections served as a
//! performance-mode worker serves them.

use std::{future::Future, pin::Pin, sync::Arc};

use tokio::{net::TcpStream, sync::Semaphore};

use super::{connection::Http, drain::Drain, service::ChopinService, timer::CoarseTimer};
use crate::{config::Config, fast_route::FastRoutes, middleware, routes::Routes};

pub(crate) use super::fast_lane::peak_output;

/// See [`super::BATCH_LIMIT`].
pub(crate) const BATCH_LIMIT: usize = super::BATCH_LIMIT;

/// Serves one accepted connection to its end.
pub(crate) type Serve = Box<dyn Fn(TcpStream) -> Pin<Box<dyn Future<Output = ()>>>>;

/// Builds the service and connection settings as [`super::Server::serve`] does in
/// performance mode. Call it on the current-thread runtime that will run the
/// connections: it starts that thread's coarse timer there.
pub(crate) fn connections(config: &Config, routes: Routes, fast_routes: FastRoutes) -> Serve {
    tokio::spawn(CoarseTimer.sweep());
    let answers = middleware::FixedAnswers::new(config);
    let host = middleware::HostCheck::Done;
    let lane_app = middleware::wrap(routes.clone(), config, host, middleware::Stamp::ByServer);
    let app = middleware::wrap(routes, config, host, middleware::Stamp::Here);
    let service = ChopinService::new(fast_routes, app, lane_app, answers);
    let fast_lane = config.fast_lane.then(|| service.fast_routes());
    let http = Arc::new(Http::new(config, CoarseTimer, fast_lane));
    // Never shut down: a connection ends when the client closes it.
    let drain = Drain::default();
    let cap = Arc::new(Semaphore::new(config.max_connections));
    Box::new(move |stream| {
        let (http, service, draining) = (Arc::clone(&http), service.clone(), drain.enter());
        let cap = Arc::clone(&cap);
        Box::pin(async move {
            // Never closed, and the fuzz target serves one connection at a time.
            let Ok(slot) = cap.acquire_owned().await else {
                return;
            };
            http.serve(stream, service, draining, slot).await;
        })
    })
}
