//! [`Error`]: why Chopin could not start or keep serving.
//!
//! HTTP error responses are a different thing: see [`crate::ApiError`].

use std::{borrow::Cow, fmt, io, net::SocketAddr};

/// Why Chopin could not start or keep serving.
///
/// Its `Display` is one line meant for the person starting the server, e.g.
/// `invalid SERVER_PORT "abc": expected a port number from 0 to 65535 (0 picks a free port)`.
/// `Debug` prints the same line, so `main` returning `Err` shows it without noise.
pub struct Error {
    inner: Box<ErrorKind>,
}

#[derive(Debug, thiserror::Error)]
enum ErrorKind {
    #[error("invalid {var} {value:?}: expected {expected}")]
    InvalidVar {
        var: &'static str,
        value: String,
        expected: Cow<'static, str>,
    },
    #[error("invalid Config::{field} {value} ({var}): expected {expected}")]
    InvalidField {
        field: &'static str,
        var: &'static str,
        value: String,
        expected: String,
    },
    #[error("{var} is not valid UTF-8")]
    NotUnicode { var: &'static str },
    #[error("{0}")]
    Rule(String),
    #[error("cannot read {file}: {source}")]
    DotEnv {
        file: String,
        #[source]
        source: dotenvy::Error,
    },
    #[error("cannot generate a random secret: {0}")]
    Random(getrandom::Error),
    #[error("cannot resolve SERVER_HOST {host:?}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot listen on {addr} (SERVER_HOST/SERVER_PORT): {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("cannot open the database at DATABASE_URL {url:?}: {source}")]
    Database {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{which} migration failed and was rolled back: {source}")]
    MigrationRolledBack {
        which: &'static str,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("{which} migrations cannot be applied to this database: {source}")]
    MigrationRefused {
        which: &'static str,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("invalid cron pattern {pattern:?}: {source}")]
    Schedule {
        pattern: String,
        #[source]
        source: croner::errors::CronError,
    },
    #[error("JOBS_ONLY=on, but this app registers no job type (App::job) to run")]
    NoJobs,
    #[error("server failed: {0}")]
    Serve(#[source] io::Error),
}

impl Error {
    fn new(kind: ErrorKind) -> Self {
        Self {
            inner: Box::new(kind),
        }
    }

    pub(crate) fn invalid(
        var: &'static str,
        value: &str,
        expected: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(ErrorKind::InvalidVar {
            var,
            value: value.to_owned(),
            expected: expected.into(),
        })
    }

    /// A field of a [`crate::Config`] built in code holds a value its variable refuses.
    pub(crate) fn invalid_field(
        field: &'static str,
        var: &'static str,
        value: String,
        expected: String,
    ) -> Self {
        Self::new(ErrorKind::InvalidField {
            field,
            var,
            value,
            expected,
        })
    }

    pub(crate) fn not_unicode(var: &'static str) -> Self {
        Self::new(ErrorKind::NotUnicode { var })
    }

    /// A rule that joins settings is broken; `message` says which and how to mend it.
    pub(crate) fn rule(message: String) -> Self {
        Self::new(ErrorKind::Rule(message))
    }

    pub(crate) fn dotenv(file: &str, source: dotenvy::Error) -> Self {
        Self::new(ErrorKind::DotEnv {
            file: file.to_owned(),
            source,
        })
    }

    pub(crate) fn random(source: getrandom::Error) -> Self {
        Self::new(ErrorKind::Random(source))
    }

    pub(crate) fn resolve(host: &str, source: io::Error) -> Self {
        Self::new(ErrorKind::Resolve {
            host: host.to_owned(),
            source,
        })
    }

    pub(crate) fn bind(addr: SocketAddr, source: io::Error) -> Self {
        Self::new(ErrorKind::Bind { addr, source })
    }

    /// `url` must already be masked.
    pub(crate) fn database(
        url: String,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::new(ErrorKind::Database {
            url,
            source: source.into(),
        })
    }

    /// `which` is `chopin` or `application`.
    pub(crate) fn migration(which: &'static str, source: sqlx::migrate::MigrateError) -> Self {
        // Only a migration that ran and failed was rolled back; the other errors (changed,
        // missing, out-of-order migrations) stop before anything runs.
        Self::new(match source {
            sqlx::migrate::MigrateError::ExecuteMigration(..) => {
                ErrorKind::MigrationRolledBack { which, source }
            }
            source => ErrorKind::MigrationRefused { which, source },
        })
    }

    pub(crate) fn schedule(pattern: &str, source: croner::errors::CronError) -> Self {
        let pattern = pattern.to_owned();
        Self::new(ErrorKind::Schedule { pattern, source })
    }

    pub(crate) fn no_jobs() -> Self {
        Self::new(ErrorKind::NoJobs)
    }

    pub(crate) fn serve(source: io::Error) -> Self {
        Self::new(ErrorKind::Serve(source))
    }

    /// True if the configuration (environment variables, `.env`, secrets, or a [`crate::Config`]
    /// built in code) is at fault.
    pub fn is_config(&self) -> bool {
        matches!(
            *self.inner,
            ErrorKind::InvalidVar { .. }
                | ErrorKind::InvalidField { .. }
                | ErrorKind::NotUnicode { .. }
                | ErrorKind::Rule(_)
                | ErrorKind::DotEnv { .. }
                | ErrorKind::Schedule { .. }
                | ErrorKind::NoJobs
        )
    }

    /// True if the database could not be opened or migrated.
    pub fn is_database(&self) -> bool {
        matches!(
            *self.inner,
            ErrorKind::Database { .. }
                | ErrorKind::MigrationRolledBack { .. }
                | ErrorKind::MigrationRefused { .. }
        )
    }

    /// True if the listening address could not be resolved or bound (e.g. in use).
    pub fn is_bind(&self) -> bool {
        matches!(
            *self.inner,
            ErrorKind::Bind { .. } | ErrorKind::Resolve { .. }
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.inner)
    }
}
