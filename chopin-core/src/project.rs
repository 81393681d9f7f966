//! [`Project`]: how an application is put together, told once and used by its `main`,
//! its tests ([`crate::testing`]) and the `chopin` command.

use std::{fmt, future::Future, pin::Pin, sync::Arc};

use sqlx::migrate::Migrator;

use crate::{app::App, config::Config, error::Error, state::AppState};

/// What a seed function may fail with: any error.
pub type SeedError = Box<dyn std::error::Error + Send + Sync>;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type Build = dyn Fn(App) -> BoxFuture<Result<App, Error>> + Send + Sync;
type Seed = dyn Fn(AppState) -> BoxFuture<Result<(), SeedError>> + Send + Sync;

/// An application's migrations, one set per backend (their SQL differs), embedded with
/// sqlx's `migrate!` (feature `macros`) in a `static`:
/// `Migrations { sqlite: sqlx::migrate!("migrations/sqlite"), postgres: sqlx::migrate!("migrations/postgres") }`.
/// Name them `VERSION_name.up.sql` and `VERSION_name.down.sql` so `chopin db rollback`
/// can undo them.
#[derive(Debug)]
pub struct Migrations {
    /// Applied when `DATABASE_URL` is SQLite.
    pub sqlite: Migrator,
    /// Applied when `DATABASE_URL` is PostgreSQL.
    pub postgres: Migrator,
}

impl Migrations {
    /// The set for `config`'s database.
    pub fn for_config(&self, config: &Config) -> &Migrator {
        match config.database_url.is_postgres() {
            true => &self.postgres,
            false => &self.sqlite,
        }
    }
}

/// An application: the function that adds its routes, layers and jobs to an [`App`],
/// its migrations and its seed function.
///
/// One value serves the server, the tests and the command line:
///
/// ```no_run
/// use chopin_core::{App, Error, Project};
///
/// async fn build(app: App) -> Result<App, Error> {
///     Ok(app) // .api_router(...), .job::<...>(), .layer(...)
/// }
///
/// pub fn project() -> Project {
///     Project::new(build)
/// }
///
/// #[tokio::main]
/// async fn main() -> std::process::ExitCode {
///     project().main().await // serves, or runs `db migrate`, `routes`, ...
/// }
/// ```
#[derive(Clone)]
pub struct Project {
    build: Arc<Build>,
    migrations: Option<&'static Migrations>,
    seed: Option<Arc<Seed>>,
}

impl fmt::Debug for Project {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Project")
            .field("migrations", &self.migrations)
            .field("seed", &self.seed.is_some())
            .finish_non_exhaustive()
    }
}

impl Project {
    /// An application whose routes, layers and jobs `build` adds to an [`App`]. The
    /// app it gets has its migrations applied already.
    pub fn new<F, Fut>(build: F) -> Self
    where
        F: Fn(App) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<App, Error>> + Send + 'static,
    {
        Self {
            build: Arc::new(move |app| Box::pin(build(app))),
            migrations: None,
            seed: None,
        }
    }

    /// Its migrations, applied after Chopin's as [`App::migrate`] does: at startup, by
    /// `chopin db migrate`, and on each test's fresh database.
    pub fn migrations(mut self, migrations: &'static Migrations) -> Self {
        self.migrations = Some(migrations);
        self
    }

    /// What `chopin db seed` (and `chopin db reset`) runs on a migrated database. Make
    /// it safe to run twice.
    pub fn seed<F, Fut>(mut self, seed: F) -> Self
    where
        F: Fn(AppState) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), SeedError>> + Send + 'static,
    {
        self.seed = Some(Arc::new(move |state| Box::pin(seed(state))));
        self
    }

    /// The application on `config`: Chopin's and its own migrations applied, then its
    /// `build`.
    ///
    /// # Errors
    ///
    /// As [`App::with_config`] and [`App::migrate`], and whatever `build` returns.
    pub async fn app(&self, config: Config) -> Result<App, Error> {
        let mut app = App::with_config(config).await?;
        if let Some(migrations) = self.migrations {
            let migrator = migrations.for_config(app.config());
            app = app.migrate(migrator).await?;
        }
        (self.build)(app).await
    }

    /// The application's migrations for `config`'s database, if it has any.
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    pub(crate) fn migrator(&self, config: &Config) -> Option<&'static Migrator> {
        self.migrations.map(|m| m.for_config(config))
    }

    /// Runs the seed function, if there is one (`false` if not).
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    pub(crate) async fn run_seed(&self, state: AppState) -> Result<bool, SeedError> {
        match &self.seed {
            Some(seed) => seed(state).await.map(|()| true),
            None => Ok(false),
        }
    }
}
