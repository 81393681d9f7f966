//! [`DatabaseUrl`]: `DATABASE_URL` parsed once, its backend known, its password masked
//! whenever it is printed.

use std::{fmt, str::FromStr};

use super::rules::{Rule, Setting, text};
use crate::error::Error;

/// What `DATABASE_URL` accepts.
pub(super) const DATABASE_URL: Rule = text(
    "a URL such as sqlite:./app.db, sqlite::memory: or postgres://user:pass@host/db",
    |_| true,
);

/// Which database a [`DatabaseUrl`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite { in_memory: bool },
    Postgres,
}

impl Backend {
    /// `None` for schemes this build cannot serve.
    fn of(url: &str) -> Option<Self> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let in_memory = rest.trim_start_matches('/').starts_with(":memory:")
                || rest.contains("mode=memory");
            Some(Self::Sqlite { in_memory })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// A database connection URL (`DATABASE_URL`): SQLite or PostgreSQL.
///
/// `Debug` and `Display` replace any password (`user:password@` or a `password=`
/// parameter) with `***`, so a config, an app or an error can be logged safely. The URL
/// as given is only reachable through [`DatabaseUrl::expose_secret`].
///
/// ```
/// use chopin_core::DatabaseUrl;
///
/// let url: DatabaseUrl = "postgres://app:s3cret@db:5432/app".parse()?;
/// assert_eq!(url.to_string(), "postgres://app:***@db:5432/app");
/// assert_eq!(format!("{url:?}"), r#"DatabaseUrl("postgres://app:***@db:5432/app")"#);
/// assert_eq!(url.expose_secret(), "postgres://app:s3cret@db:5432/app");
/// # Ok::<(), chopin_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    url: String,
    masked: String,
    backend: Backend,
}

impl DatabaseUrl {
    /// Parses `url`: `sqlite:PATH`, `sqlite::memory:` or `postgres://…`.
    ///
    /// # Errors
    ///
    /// Any other scheme; the message names `DATABASE_URL` and shows the URL masked.
    pub fn new(url: impl Into<String>) -> Result<Self, Error> {
        let url = url.into();
        let masked = masked(&url);
        match Backend::of(&url) {
            Some(backend) => Ok(Self {
                url,
                masked,
                backend,
            }),
            None => Err(Error::invalid(
                super::vars::DATABASE_URL,
                &masked,
                Self::expected(&DATABASE_URL),
            )),
        }
    }

    /// An SQLite file at `path`, which holds no password.
    pub(crate) fn sqlite_file(path: &str) -> Self {
        let url = format!("sqlite:{path}");
        Self {
            masked: url.clone(),
            url,
            backend: Backend::Sqlite { in_memory: false },
        }
    }

    /// The URL as given, password included: for opening a connection, never for a log.
    pub fn expose_secret(&self) -> &str {
        &self.url
    }

    /// Whether this is a PostgreSQL URL (otherwise SQLite): for choosing your own
    /// migrations or SQL where the two differ.
    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres)
    }

    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }
}

impl Setting for DatabaseUrl {
    fn read(_: &'static str, text: &str, _: &Rule) -> Result<Self, Error> {
        Self::new(text)
    }

    #[cfg(test)]
    fn show(&self, _: &Rule) -> String {
        self.to_string()
    }
}

impl FromStr for DatabaseUrl {
    type Err = Error;

    fn from_str(url: &str) -> Result<Self, Error> {
        Self::new(url)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl").field(&self.masked).finish()
    }
}

/// `url` with any password (`user:password@` or a `password=` parameter) replaced by
/// `***`.
pub(super) fn masked(url: &str) -> String {
    let mut url = url.to_owned();
    if let Some(authority_start) = url.find("://").map(|i| i + 3) {
        let authority_end = url[authority_start..]
            .find(['/', '?'])
            .map_or(url.len(), |i| authority_start + i);
        let authority = &url[authority_start..authority_end];
        if let Some((start, end)) = authority.rfind('@').and_then(|at| {
            authority[..at]
                .find(':')
                .map(|colon| (authority_start + colon + 1, authority_start + at))
        }) {
            url.replace_range(start..end, "***");
        }
    }
    if let Some(query_start) = url.find('?') {
        let mut from = query_start;
        while let Some(found) = url[from..].find("password=") {
            let start = from + found + "password=".len();
            let preceded_by_separator =
                matches!(url.as_bytes()[start - "password=".len() - 1], b'?' | b'&');
            let end = url[start..].find('&').map_or(url.len(), |i| start + i);
            if preceded_by_separator {
                url.replace_range(start..end, "***");
                from = start + 3;
            } else {
                from = end;
            }
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(url: &str) -> Option<Backend> {
        DatabaseUrl::new(url).ok().map(|url| url.backend())
    }

    #[test]
    fn backends() {
        assert_eq!(
            backend("sqlite::memory:"),
            Some(Backend::Sqlite { in_memory: true })
        );
        assert_eq!(
            backend("sqlite:./app.db"),
            Some(Backend::Sqlite { in_memory: false })
        );
        assert_eq!(
            backend("sqlite:file:x?mode=memory"),
            Some(Backend::Sqlite { in_memory: true })
        );
        assert_eq!(backend("postgresql://u@h/db"), Some(Backend::Postgres));
        assert_eq!(backend("mysql://u@h/db"), None);
        assert_eq!(backend("app.db"), None);
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            masked("postgres://app:s3cr@t@db:5432/app"),
            "postgres://app:***@db:5432/app"
        );
        assert_eq!(masked("postgres://app@db/app"), "postgres://app@db/app");
        assert_eq!(masked("sqlite:./app.db"), "sqlite:./app.db");
        assert_eq!(
            masked("postgres://db/app?user=app&password=s3cret&sslmode=disable"),
            "postgres://db/app?user=app&password=***&sslmode=disable"
        );
        assert_eq!(
            masked("postgres://u:p@db/app?password=x"),
            "postgres://u:***@db/app?password=***"
        );
        assert_eq!(
            masked("postgres://db/app?oldpassword=x"),
            "postgres://db/app?oldpassword=x"
        );
    }

    #[test]
    fn printing_never_shows_the_password() {
        let url = DatabaseUrl::new("postgres://app:hunter2@db/app?password=hunter2").unwrap();
        for printed in [format!("{url}"), format!("{url:?}"), format!("{url:#?}")] {
            assert!(!printed.contains("hunter2"), "{printed}");
        }
        assert_eq!(
            url.expose_secret(),
            "postgres://app:hunter2@db/app?password=hunter2"
        );
        let refused = DatabaseUrl::new("mysql://root:hunter2@db/app").unwrap_err();
        assert_eq!(
            refused.to_string(),
            r#"invalid DATABASE_URL "mysql://root:***@db/app": expected a URL such as sqlite:./app.db, sqlite::memory: or postgres://user:pass@host/db"#
        );
    }
}
