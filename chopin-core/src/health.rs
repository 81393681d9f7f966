//! Health checks for load balancers and orchestrators, mounted by every [`crate::App`]
//! in both modes (docs/deployment.md):
//!
//! - `GET /healthz`: `200` while the process serves requests. It checks nothing else,
//!   so a database outage never gets a healthy process restarted.
//! - `GET /readyz`: `200` when this instance should be sent requests: its database
//!   answers, with this build's migrations applied (one query), and the server is not
//!   shutting down. Otherwise `503` in the JSON error shape, the message saying why.
//!   From the moment shutdown begins it answers `503` without asking the database,
//!   while the server keeps serving for `SHUTDOWN_DELAY_SECS`.

use std::{
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    extract::State,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use sqlx::migrate::Migrator;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    api_error::ApiError,
    config::{Config, vars},
    db::{Db, Required, Unready},
};

/// A not-ready answer asks to be polled again this soon: the state it reports (an
/// outage, a drain) changes from one second to the next.
const RETRY_AFTER_SECS: u32 = 1;

/// What a check answers when it passes.
#[derive(Serialize, ToSchema)]
struct Healthy {
    /// `ok` from `/healthz`, `ready` from `/readyz`.
    #[schema(example = "ready")]
    status: &'static str,
}

/// Whether this instance should be sent requests: `/readyz` asks it, and the server
/// marks it draining when shutdown begins. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Readiness {
    inner: Arc<Inner>,
}

/// How much longer a check waits than the pool waits for a connection.
const POOL_TIMEOUT_FIRST: Duration = Duration::from_millis(250);

#[derive(Debug)]
struct Inner {
    db: Db,
    /// Chopin's migrations, then the application's as [`crate::App::migrate`] adds
    /// them, after the routes are mounted.
    required: Mutex<Arc<Required>>,
    /// How long a request waits for a connection; a check waits a little longer
    /// ([`POOL_TIMEOUT_FIRST`]).
    timeout: Duration,
    draining: AtomicBool,
    /// Whether `/readyz` has been asked: something polls it, so a drain is worth
    /// announcing before the listener closes.
    polled: AtomicBool,
    /// Whether the last check passed: a change is logged, not every probe.
    ready: AtomicBool,
}

impl Readiness {
    pub(crate) fn new(db: Db, required: Required, config: &Config) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                required: Mutex::new(Arc::new(required)),
                timeout: config.database_acquire_timeout,
                draining: AtomicBool::new(false),
                polled: AtomicBool::new(false),
                ready: AtomicBool::new(true),
            }),
        }
    }

    /// Requires `migrator`'s migrations too.
    pub(crate) fn require(&self, migrator: &Migrator) {
        let mut required = self.required();
        Arc::make_mut(&mut *required).add_app(migrator);
    }

    /// Shutdown has begun: `/readyz` answers `503` from now on.
    pub(crate) fn drain(&self) {
        self.inner.draining.store(true, Ordering::Release);
    }

    /// Whether `/readyz` has been asked since the start.
    pub(crate) fn is_polled(&self) -> bool {
        self.inner.polled.load(Ordering::Relaxed)
    }

    fn required(&self) -> MutexGuard<'_, Arc<Required>> {
        // Replaced whole under the lock: a panic elsewhere cannot leave it half-written.
        (self.inner.required.lock()).unwrap_or_else(PoisonError::into_inner)
    }

    /// `Err` says why this instance is not ready.
    async fn check(&self) -> Result<(), String> {
        self.inner.polled.store(true, Ordering::Relaxed);
        if self.inner.draining.load(Ordering::Acquire) {
            return Err("shutting down: send requests to another instance".to_owned());
        }
        let required = Arc::clone(&self.required());
        // A little past the pool's own acquire timeout, which ends at the same moment
        // when connecting is refused: the pool's error ("unavailable") says more than
        // this one, and two equal timers would race.
        let limit = self.inner.timeout + POOL_TIMEOUT_FIRST;
        let checked = tokio::time::timeout(limit, required.check(&self.inner.db));
        let reason = match checked.await {
            Ok(Ok(())) => {
                if !self.inner.ready.swap(true, Ordering::Relaxed) {
                    tracing::info!("ready: the database answers with its migrations applied");
                }
                return Ok(());
            }
            Ok(Err(Unready::Unavailable(error))) => {
                (error.to_string(), "the database is unavailable".to_owned())
            }
            Ok(Err(Unready::Failed(error))) => (
                error.to_string(),
                "the database cannot say which migrations it has applied".to_owned(),
            ),
            Ok(Err(Unready::Behind {
                which,
                applied,
                needed,
            })) => (
                format!("latest {which} migration applied: {applied:?}; this build needs {needed}"),
                format!("the database lacks this build's {which} migrations"),
            ),
            Err(_) => (
                format!("no answer within {}", vars::DATABASE_ACQUIRE_TIMEOUT_SECS),
                format!(
                    "the database did not answer within {} s",
                    self.inner.timeout.as_secs()
                ),
            ),
        };
        let (detail, message) = reason;
        if self.inner.ready.swap(false, Ordering::Relaxed) {
            tracing::warn!(%detail, "not ready: {message}");
        }
        Err(message)
    }
}

/// `/healthz` and `/readyz`, ready to merge, and their OpenAPI document.
pub(crate) fn routes(readiness: Readiness) -> (Router, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(HealthApi::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .with_state(readiness)
        .split_for_parts()
}

#[derive(OpenApi)]
#[openapi(tags((name = "health", description = "Liveness and readiness, for load balancers")))]
struct HealthApi;

/// Liveness: the process serves requests.
///
/// Nothing else is checked: a load balancer or orchestrator restarts a process that
/// fails it, which would not help when the database is down.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = 200, description = "The process serves requests", body = Healthy))
)]
async fn healthz() -> Json<Healthy> {
    Json(Healthy { status: "ok" })
}

/// Readiness: whether to send this instance requests.
///
/// One query checks that the database answers with this build's migrations applied.
/// From the moment the server begins to shut down it answers `503` at once, while it
/// still serves for `SHUTDOWN_DELAY_SECS`, so that a load balancer polling it moves on
/// before the listener closes.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "Ready: the database answers with this build's migrations applied, and the server is not shutting down", body = Healthy),
        (status = 503, description = "Not ready: shutting down, the database unavailable, or its migrations behind; the message says which (`Retry-After`)", body = ApiError),
    )
)]
async fn readyz(State(readiness): State<Readiness>) -> Response {
    match readiness.check().await {
        Ok(()) => Json(Healthy { status: "ready" }).into_response(),
        Err(reason) => {
            let error = ApiError::from_status(StatusCode::SERVICE_UNAVAILABLE, reason);
            let mut response = error.into_response();
            (response.headers_mut())
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            response
        }
    }
}
