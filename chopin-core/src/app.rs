//! [`App`]: configuration, routes and fast routes, assembled into one router.

use std::convert::Infallible;

use axum::{Router, extract::Request, handler::Handler, response::IntoResponse};
use sqlx::migrate::Migrator;
use tower::{Layer, Service};
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{
    auth,
    config::{Config, CorsOrigins},
    db,
    error::Error,
    fast_route::{FastRoute, FastRoutes},
    health::{self, Readiness},
    jobs::{Job, Recurring, Registry, Schedule, Workers},
    mail::SendMail,
    middleware, openapi,
    routes::Routes,
    server::Server,
    state::AppState,
    telemetry, welcome,
};

/// A Chopin application.
///
/// ```no_run
/// # async fn start() -> Result<(), chopin_core::Error> {
/// let app = chopin_core::App::new().await?;
/// app.run().await
/// # }
/// ```
///
/// Add your own routes and fast routes:
///
/// ```
/// use axum::{Router, routing::get};
/// use chopin_core::{App, Config, FastRoute};
///
/// # async fn build() -> Result<(), chopin_core::Error> {
/// let config = Config::from_vars([("DATABASE_URL", "sqlite::memory:")])?;
/// let app = App::with_config(config)
///     .await?
///     .router(Router::new().route("/hello", get(|| async { "hi" })))
///     .fast_route(FastRoute::text("/plaintext", "Hello, World!"));
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
#[must_use = "an App does nothing until `run` is awaited"]
pub struct App {
    config: Config,
    state: AppState,
    routes: Router,
    document: OpenApi,
    fast_routes: Vec<FastRoute>,
    /// Whether [`App::fallback`] replaced Chopin's welcome page and JSON 404.
    own_fallback: bool,
    /// Your layers, innermost first, each applied once around the whole router.
    layers: Vec<Box<dyn FnOnce(Routes) -> Routes + Send>>,
    /// The job types this process's workers run.
    jobs: Registry,
    /// The recurring jobs its workers enqueue.
    recurring: Vec<Recurring>,
    /// What `/readyz` checks, shared with the server, which turns it off at shutdown.
    readiness: Readiness,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config)
            .field("state", &self.state)
            .field("routes", &self.routes)
            .field("fast_routes", &self.fast_routes)
            .field("own_fallback", &self.own_fallback)
            .field("layers", &self.layers.len())
            .finish_non_exhaustive()
    }
}

impl App {
    /// Reads the configuration from the environment and `.env`, installs the log
    /// subscriber (unless one is installed already) and builds the application as
    /// [`App::with_config`] does.
    ///
    /// # Errors
    ///
    /// Any malformed or missing setting (the message names the variable), or a database
    /// that cannot be opened or migrated.
    pub async fn new() -> Result<Self, Error> {
        let config = Config::from_env()?;
        telemetry::init(&config);
        Self::with_config(config).await
    }

    /// Builds the application from a configuration made in code: opens the database at
    /// `DATABASE_URL`, applies Chopin's migrations, mounts the auth routes under
    /// `/api/auth` and the health checks `/healthz` and `/readyz`. Logging is left to
    /// the caller.
    ///
    /// # Errors
    ///
    /// If the configuration breaks a rule its variables are held to (see
    /// [`Config::validate`]), if the database cannot be opened (the message names
    /// `DATABASE_URL`, password masked) or a migration fails.
    pub async fn with_config(mut config: Config) -> Result<Self, Error> {
        config.validate()?;
        if let Some(warning) = config.warning() {
            tracing::warn!("{warning}");
        }
        config.jwt_secret = config.jwt_secret.or_random()?;
        let pool = db::open(&config).await?;
        let state = AppState::new(pool, &config);
        let (auth, auth_document) = auth::routes(state.clone());
        let required = db::Required::framework(config.database_url.backend());
        let readiness = Readiness::new(state.db().clone(), required, &config);
        let (health, health_document) = health::routes(readiness.clone());
        let mut document = openapi::document();
        document.merge(auth_document);
        document.merge(health_document);
        Ok(Self {
            routes: welcome::fallback(auth.merge(health), config.mode),
            document,
            config,
            state,
            fast_routes: Vec::new(),
            own_fallback: false,
            layers: Vec::new(),
            jobs: Registry::default(),
            recurring: Vec::new(),
            readiness,
        }
        .job::<SendMail>()
        .job::<auth::VerificationMail>()
        .job::<auth::ResetMail>())
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The database pool and token keys, for your routers' `with_state`.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Applies your migrations after Chopin's, e.g. `sqlx::migrate!()` (the
    /// `migrations/` directory embedded at build time). They are recorded in sqlx's
    /// usual `_sqlx_migrations` table, apart from Chopin's, so version numbers never
    /// clash and `sqlx migrate` keeps working.
    ///
    /// ```no_run
    /// use chopin_core::{App, sqlx::migrate::Migrator};
    ///
    /// # async fn start() -> Result<(), Box<dyn std::error::Error>> {
    /// // With sqlx's `macros` feature, `sqlx::migrate!()` embeds them instead.
    /// let migrations = Migrator::new(std::path::Path::new("./migrations")).await?;
    /// let app = App::new().await?.migrate(&migrations).await?;
    /// app.run().await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// If a migration fails (it is rolled back and startup should stop), or one already
    /// applied was changed since.
    pub async fn migrate(self, migrator: &Migrator) -> Result<Self, Error> {
        db::run_app_migrations(self.state.db(), migrator).await?;
        self.readiness.require(migrator);
        Ok(self)
    }

    /// Merges your routes. Give stateful routers their state first
    /// (`router.with_state(state)`).
    ///
    /// Paths no route matches get Chopin's welcome page at `GET /` (unless you route `/`
    /// yourself) and the JSON 404 elsewhere, or your [`App::fallback`].
    ///
    /// # Panics
    ///
    /// If a route overlaps one already registered, or if `router` has a fallback of its
    /// own (axum's rules for merging routers): give yours to [`App::fallback`].
    #[track_caller]
    pub fn router(mut self, router: Router) -> Self {
        self.routes = self.routes.merge(router);
        self
    }

    /// Answers every request no route matches with `handler`, in place of Chopin's
    /// welcome page and JSON 404, in both modes; it runs inside the same middleware as
    /// your routes. Fast routes and your routes, `/` included, still come first.
    ///
    /// ```
    /// use chopin_core::{App, Config, axum::response::Html, http::StatusCode};
    ///
    /// # async fn build() -> Result<(), chopin_core::Error> {
    /// let app = App::with_config(Config::from_vars([("DATABASE_URL", "sqlite::memory:")])?)
    ///     .await?
    ///     .fallback(|| async { (StatusCode::NOT_FOUND, Html("<h1>not here</h1>")) });
    /// # let _ = app;
    /// # Ok(())
    /// # }
    /// ```
    pub fn fallback<H, T>(mut self, handler: H) -> Self
    where
        H: Handler<T, ()>,
        T: 'static,
    {
        self.routes = self.routes.fallback(handler);
        self.own_fallback = true;
        self
    }

    /// Merges documented routes: their paths and schemas join the OpenAPI document at
    /// `/api-docs/openapi.json`, their routes join the app as with [`App::router`].
    ///
    /// ```
    /// use axum::Json;
    /// use chopin_core::{App, Config};
    /// use utoipa_axum::{router::OpenApiRouter, routes};
    ///
    /// /// The server's answer.
    /// #[utoipa::path(get, path = "/answer", responses((status = 200, body = u32)))]
    /// async fn answer() -> Json<u32> {
    ///     Json(42)
    /// }
    ///
    /// # async fn build() -> Result<(), chopin_core::Error> {
    /// let app = App::with_config(Config::from_vars([("DATABASE_URL", "sqlite::memory:")])?).await?;
    /// let app = app.api_router(OpenApiRouter::new().routes(routes!(answer)));
    /// # let _ = app;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// As [`App::router`].
    #[track_caller]
    pub fn api_router(mut self, router: OpenApiRouter) -> Self {
        let (router, document) = router.split_for_parts();
        self.document.merge(document);
        self.router(router)
    }

    /// Merges a hand-written or derived (`#[derive(utoipa::OpenApi)]`) document into the
    /// app's: its paths, components and tags join Chopin's, and its `info` (title,
    /// version: by default your crate's name and version) replaces Chopin's placeholder.
    pub fn openapi(mut self, document: OpenApi) -> Self {
        self.document.info = document.info.clone();
        self.document.merge(document);
        self
    }

    /// Wraps the whole router (your routes, Chopin's auth routes, the API docs and the
    /// fallback) in `layer`, once, in both modes: compression, rate or concurrency
    /// limits, your own middleware. The service it builds is driven as tower requires
    /// (`poll_ready` before each `call`, on a clone per request), and waiting for it to be
    /// ready counts against the request timeout. It runs inside Chopin's stack (request id,
    /// security headers, JSON errors, `Host` check, timeout, panic guard, body limit),
    /// so its own failures get the same treatment; fast routes are answered before any
    /// middleware and do not pass through it. Later layers wrap earlier ones.
    ///
    /// Like `Router::layer`, the layer's service must not fail (`Error = Infallible`):
    /// turn a fallible one's errors into responses with `axum::error_handling::HandleErrorLayer`.
    /// It wraps a [`Routes`] (where `Router::layer` gives axum's `Route`): a layer
    /// written for any service, as tower's and tower-http's are, fits as it is.
    ///
    /// ```
    /// use axum::{extract::Request, middleware::{self, Next}, response::Response};
    /// use chopin_core::{App, Config};
    ///
    /// async fn served_by(request: Request, next: Next) -> Response {
    ///     let mut response = next.run(request).await;
    ///     response.headers_mut().insert("x-served-by", "api-1".parse().unwrap());
    ///     response
    /// }
    ///
    /// # async fn build() -> Result<(), chopin_core::Error> {
    /// let app = App::with_config(Config::from_vars([("DATABASE_URL", "sqlite::memory:")])?)
    ///     .await?
    ///     .layer(middleware::from_fn(served_by));
    /// # let _ = app;
    /// # Ok(())
    /// # }
    /// ```
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<Routes> + Send + 'static,
        L::Service: Service<Request, Error = Infallible> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        let error_body_timeout = middleware::error_body_timeout(&self.config);
        self.layers.push(Box::new(move |routes: Routes| {
            routes.layer(layer, error_body_timeout)
        }));
        self
    }

    /// Registers a fast route: in both modes `GET` and `HEAD` on its path are answered
    /// before the router and its middleware; other methods reach the router, where the
    /// route is also registered so they get a `405` with `Allow`.
    ///
    /// # Panics
    ///
    /// If a fast route or router route is already registered for the same path.
    #[track_caller]
    pub fn fast_route(mut self, route: FastRoute) -> Self {
        assert!(
            !self.fast_routes.iter().any(|r| r.path() == route.path()),
            "fast route {:?} is registered twice",
            route.path()
        );
        self.routes = self.routes.route(route.path(), route.method_router());
        self.fast_routes.push(route);
        self
    }

    /// Lets this process's workers run jobs of type `J` (`JOBS_WORKERS` of them run at
    /// once; `JOBS_ONLY=on` runs only them). Register every job type in every process
    /// that runs workers; a process enqueues any type without registering it.
    ///
    /// # Panics
    ///
    /// If another registered job type has the same [`Job::NAME`]: the workers could not
    /// tell their jobs apart.
    pub fn job<J: Job>(mut self) -> Self {
        assert!(
            self.jobs.add::<J>(),
            "two job types are named {:?}: each needs a name of its own",
            J::NAME
        );
        self
    }

    /// Enqueues the job `job(tick)` at every tick of `schedule`, once across every
    /// process sharing the database, and lets the workers run `J`. The latest tick missed
    /// while no worker process ran is run once when one starts (docs/jobs.md).
    ///
    /// # Panics
    ///
    /// As [`App::job`], or if `J` already has a schedule with the same pattern.
    pub fn schedule<J, F>(self, schedule: Schedule, job: F) -> Self
    where
        J: Job,
        F: Fn(std::time::SystemTime) -> J + Send + Sync + 'static,
    {
        let mut app = self.job::<J>();
        let recurring = Recurring::new(schedule, job);
        assert!(
            app.recurring.iter().all(|r| r.key() != recurring.key()),
            "{} is scheduled twice",
            recurring.key()
        );
        app.recurring.push(recurring);
        app
    }

    /// The complete router with Chopin's middleware, e.g. for
    /// `tower::ServiceExt::oneshot` in tests.
    pub fn into_router(self) -> Router {
        let config = self.config.clone();
        let routes = self.assemble().0;
        Router::new().fallback_service(middleware::wrap(
            routes,
            &config,
            middleware::HostCheck::Here,
            middleware::Stamp::Here,
        ))
    }

    /// The OpenAPI document as `/api-docs/openapi.json` serves it: your documented
    /// routes, Chopin's, the welcome page and the fast routes.
    pub fn api_document(&self) -> OpenApi {
        openapi::complete(self.document.clone(), self.static_entries())
    }

    /// Whether `path` is a fast route's (its `GET` and `HEAD` skip the router).
    pub(crate) fn is_fast_route(&self, path: &str) -> bool {
        self.fast_routes.iter().any(|r| r.path() == path)
    }

    /// The documentation of the welcome page (unless replaced) and the fast routes.
    fn static_entries(&self) -> Vec<(String, utoipa::openapi::PathItem)> {
        let welcome = (!self.own_fallback).then(|| ("/".to_owned(), welcome::documentation()));
        let fast_routes =
            (self.fast_routes.iter()).map(|r| (r.path().to_owned(), r.documentation()));
        welcome.into_iter().chain(fast_routes).collect()
    }

    /// Your routes, the API docs and the fallback; then your layers around all of it.
    fn assemble(self) -> (Routes, Config, Vec<FastRoute>) {
        let entries = self.static_entries();
        let document = openapi::complete(self.document, entries);
        let routes = openapi::mount(self.routes, document);
        let mut routes = Routes::new(middleware::lift_body_limit(routes, &self.config));
        for layer in self.layers {
            routes = layer(routes);
        }
        (routes, self.config, self.fast_routes)
    }

    /// Binds `SERVER_HOST:SERVER_PORT` without serving yet, so the bound address can be
    /// read first.
    ///
    /// # Errors
    ///
    /// If the host does not resolve or the address cannot be bound (e.g. in use).
    pub async fn bind(mut self) -> Result<Server, Error> {
        let workers = self.workers();
        let readiness = self.readiness.clone();
        let (router, config, fast_routes) = self.assemble();
        let cors = config.cors_origins != CorsOrigins::None;
        let fast_routes = FastRoutes::new(fast_routes, cors);
        Server::bind(config, router, fast_routes, workers, readiness).await
    }

    /// Binds and serves until SIGINT or SIGTERM, then drains gracefully; with
    /// `JOBS_ONLY=on`, runs only the job workers, until the same signals.
    ///
    /// # Errors
    ///
    /// As [`App::bind`] and [`Server::run`].
    pub async fn run(mut self) -> Result<(), Error> {
        if !self.config.jobs_only {
            return self.bind().await?.run().await;
        }
        let signal = crate::server::shutdown_signal();
        let drain = self.config.shutdown_timeout;
        match self.workers() {
            Some(workers) => {
                let (stop, stopped) = tokio::sync::watch::channel(false);
                let workers = tokio::spawn(workers.run(stopped, drain));
                signal.await;
                let _ = stop.send(true);
                workers
                    .await
                    .map_err(|e| Error::serve(std::io::Error::other(e)))
            }
            None => Err(Error::no_jobs()),
        }
    }

    /// The workers for the registered job types, if this process runs any.
    fn workers(&mut self) -> Option<Workers> {
        let registry = std::mem::take(&mut self.jobs);
        let recurring = std::mem::take(&mut self.recurring);
        Workers::new(self.state.clone(), registry, recurring, &self.config)
    }
}
