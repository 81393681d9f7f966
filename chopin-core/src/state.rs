//! [`AppState`]: what Chopin's handlers share, and yours can too.

use std::{fmt, sync::Arc};

use axum::extract::FromRef;

use crate::{
    config::Config,
    db::Db,
    jobs::queue::Jobs,
    mail::message::Mailer,
    tokens::{AccountSettings, Tokens},
};

/// The database pool, the token keys, the job queue and the mailer, cheap to clone (reference counts).
///
/// Give it to your router with `with_state` and extract [`Db`] or the whole state in
/// handlers; [`crate::auth::AuthUser`] needs `AppState: FromRef<YourState>`, which holds
/// for `AppState` itself.
///
/// ```
/// use axum::{Router, extract::State, routing::get};
/// use chopin_core::{ApiError, App, Config, Db};
///
/// async fn count_users(State(db): State<Db>) -> Result<String, ApiError> {
///     let (n,): (i64,) = chopin_core::sqlx::query_as("SELECT COUNT(*) FROM chopin_users")
///         .fetch_one(&db)
///         .await?;
///     Ok(n.to_string())
/// }
///
/// # async fn build() -> Result<(), chopin_core::Error> {
/// let app = App::with_config(Config::from_vars([("DATABASE_URL", "sqlite::memory:")])?).await?;
/// let routes = Router::new()
///     .route("/users/count", get(count_users))
///     .with_state(app.state().clone());
/// let app = app.router(routes);
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AppState {
    // One reference count for handlers and extractors to clone per request.
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    tokens: Tokens,
    accounts: AccountSettings,
    jobs: Jobs,
    mailer: Mailer,
}

impl AppState {
    /// The state `App` builds: `db`, token keys from `config`'s `JWT_SECRET`, and its
    /// account settings (`ACCESS_TOKEN_SECS` and the rest). For tests and tools that need Chopin's tokens or extractors
    /// without a whole [`crate::App`] (which also has [`crate::App::state`]).
    pub fn new(db: Db, config: &Config) -> Self {
        let jobs = Jobs::new(db.clone(), config.database_url.is_postgres());
        let inner = Inner {
            mailer: Mailer::new(jobs.clone(), config),
            jobs,
            db,
            tokens: Tokens::new(&config.jwt_secret, config.access_token_ttl),
            accounts: AccountSettings::new(config),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The connection pool.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The job queue: [`Jobs::enqueue`] stores work for the workers.
    pub fn jobs(&self) -> &Jobs {
        &self.inner.jobs
    }

    /// The mailer: [`Mailer::send`] enqueues a mail for the workers to send.
    pub fn mailer(&self) -> &Mailer {
        &self.inner.mailer
    }

    pub(crate) fn tokens(&self) -> &Tokens {
        &self.inner.tokens
    }

    pub(crate) fn auth_settings(&self) -> &AccountSettings {
        &self.inner.accounts
    }
}

impl FromRef<AppState> for Db {
    fn from_ref(state: &AppState) -> Db {
        state.inner.db.clone()
    }
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("db", &self.inner.db)
            .finish_non_exhaustive()
    }
}
