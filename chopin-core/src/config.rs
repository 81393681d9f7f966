//! Configuration from environment variables, a `.env` file, or code.
//!
//! Every variable, its default and its unit is listed in `docs/configuration.md`;
//! the names live in [`vars`] and the defaults in [`defaults`], nowhere else.

mod database_url;

use std::{fmt, str::FromStr, time::Duration};

use http::HeaderValue;

pub(crate) use self::database_url::Backend;
pub use self::database_url::DatabaseUrl;
use crate::error::Error;

/// Names of the environment variables Chopin reads.
pub mod vars {
    /// Performance mode: worker threads (one runtime and listener each).
    pub const SERVER_WORKERS: &str = "SERVER_WORKERS";
    /// Performance mode: listen backlog of each listener.
    pub const SERVER_BACKLOG: &str = "SERVER_BACKLOG";
    /// Performance mode: longest time a client may take to send request headers, in
    /// seconds; `0` disables.
    pub const HEADER_READ_TIMEOUT_SECS: &str = "HEADER_READ_TIMEOUT_SECS";
    /// `standard` or `performance`.
    pub const SERVER_MODE: &str = "SERVER_MODE";
    /// Host name or IP address to listen on.
    pub const SERVER_HOST: &str = "SERVER_HOST";
    /// TCP port to listen on; `0` picks a free port.
    pub const SERVER_PORT: &str = "SERVER_PORT";
    /// `development`, `production` or `test`.
    pub const ENVIRONMENT: &str = "ENVIRONMENT";
    /// sqlx connection URL.
    pub const DATABASE_URL: &str = "DATABASE_URL";
    /// Most connections the database pool opens.
    pub const DATABASE_MAX_CONNECTIONS: &str = "DATABASE_MAX_CONNECTIONS";
    /// Longest time a request waits for a database connection, in seconds.
    pub const DATABASE_ACQUIRE_TIMEOUT_SECS: &str = "DATABASE_ACQUIRE_TIMEOUT_SECS";
    /// How long an unused pooled connection stays open, in seconds; `0` keeps it.
    pub const DATABASE_IDLE_TIMEOUT_SECS: &str = "DATABASE_IDLE_TIMEOUT_SECS";
    /// HS256 signing secret for access tokens.
    pub const JWT_SECRET: &str = "JWT_SECRET";
    /// Lifetime of an access token, in hours.
    pub const JWT_EXPIRY_HOURS: &str = "JWT_EXPIRY_HOURS";
    /// Largest accepted request body, in bytes.
    pub const REQUEST_BODY_LIMIT: &str = "REQUEST_BODY_LIMIT";
    /// Longest time a request may take, in seconds; `0` disables.
    pub const REQUEST_TIMEOUT_SECS: &str = "REQUEST_TIMEOUT_SECS";
    /// Longest time in-flight requests get to finish at shutdown, in seconds.
    pub const SHUTDOWN_TIMEOUT_SECS: &str = "SHUTDOWN_TIMEOUT_SECS";
    /// Comma-separated origins allowed by CORS, or `*`.
    pub const CORS_ALLOWED_ORIGINS: &str = "CORS_ALLOWED_ORIGINS";
    /// `text` or `json` log lines.
    pub const LOG_FORMAT: &str = "LOG_FORMAT";
    /// tracing filter directives, e.g. `info,chopin_core=debug`.
    pub const RUST_LOG: &str = "RUST_LOG";
}

/// Default values, the single place they are defined.
pub mod defaults {
    /// Loopback only: exposing a development server must be a choice.
    pub const SERVER_HOST: &str = "127.0.0.1";
    /// The port the examples and docs use.
    pub const SERVER_PORT: u16 = 3000;
    /// An SQLite file next to the binary's working directory, created if missing.
    pub const DATABASE_URL: &str = "sqlite:./app.db";
    /// Pool size. SQLite serialises writes anyway; an in-memory database always gets one
    /// connection, since each connection would otherwise see its own empty database.
    pub const DATABASE_MAX_CONNECTIONS: u32 = 10;
    /// 5 seconds: past it a request gets `503` rather than waiting on a lost database.
    pub const DATABASE_ACQUIRE_TIMEOUT_SECS: u64 = 5;
    /// 10 minutes.
    pub const DATABASE_IDLE_TIMEOUT_SECS: u64 = 600;
    /// 24 hours.
    pub const JWT_EXPIRY_HOURS: u64 = 24;
    /// 2 MiB, the same as axum's own default.
    pub const REQUEST_BODY_LIMIT: usize = 2 * 1024 * 1024;
    /// 30 seconds.
    pub const REQUEST_TIMEOUT_SECS: u64 = 30;
    /// 10 seconds.
    pub const SHUTDOWN_TIMEOUT_SECS: u64 = 10;
    /// Pending connections queued per listener before the kernel refuses more.
    pub const SERVER_BACKLOG: u32 = 1024;
    /// 10 seconds: generous for real clients, short enough to shed slowloris.
    pub const HEADER_READ_TIMEOUT_SECS: u64 = 10;
    /// Largest request head (request line and headers) read, in bytes; larger gets
    /// `431`. hyper's own default, so both modes draw the line at the same place
    /// (standard mode's `axum::serve` cannot be configured).
    pub const MAX_HEADER_BYTES: usize = 8192 + 4096 * 100;

    /// One worker per core the process may use.
    pub fn server_workers() -> usize {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    }

    /// Quiet per-request logging: requests are logged at `debug`.
    pub const RUST_LOG: &str = "info";
    /// Shortest `JWT_SECRET` accepted outside development, in bytes.
    pub const JWT_SECRET_MIN_LEN: usize = 32;
}

/// Which server runs the application.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServerMode {
    /// `axum::serve` on one listener and a multi-threaded runtime.
    #[default]
    Standard,
    /// One thread, runtime and `SO_REUSEPORT` listener per core, fast routes first.
    Performance,
}

impl ServerMode {
    /// The name used in `SERVER_MODE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Performance => "performance",
        }
    }
}

impl fmt::Display for ServerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServerMode {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "standard" => Ok(Self::Standard),
            "performance" => Ok(Self::Performance),
            _ => Err(()),
        }
    }
}

/// Where the application runs; decides which insecure conveniences are allowed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Environment {
    /// Local work: a missing `JWT_SECRET` is replaced by a random one, with a warning.
    #[default]
    Development,
    /// Deployed: secrets are required and wide-open CORS is refused.
    Production,
    /// Automated tests: strict like production.
    Test,
}

impl Environment {
    /// The name used in `ENVIRONMENT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Production => "production",
            Self::Test => "test",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "development" => Ok(Self::Development),
            "production" => Ok(Self::Production),
            "test" => Ok(Self::Test),
            _ => Err(()),
        }
    }
}

/// The secret that signs access tokens. Its `Debug` output never shows the bytes.
#[derive(Clone)]
pub struct JwtSecret {
    bytes: Vec<u8>,
    generated: bool,
}

impl JwtSecret {
    /// A secret from explicit bytes, e.g. read from a vault.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            bytes: bytes.into(),
            generated: false,
        }
    }

    /// A random 32-byte secret, valid for this process only: tokens die with it.
    ///
    /// # Errors
    ///
    /// Fails only if the operating system's random source is unavailable.
    pub fn random() -> Result<Self, Error> {
        let mut bytes = vec![0; defaults::JWT_SECRET_MIN_LEN];
        getrandom::fill(&mut bytes).map_err(Error::random)?;
        Ok(Self {
            bytes,
            generated: true,
        })
    }

    /// The raw secret.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether Chopin generated this secret because none was configured.
    pub fn is_generated(&self) -> bool {
        self.generated
    }
}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSecret")
            .field("len", &self.bytes.len())
            .field("generated", &self.generated)
            .finish_non_exhaustive()
    }
}

/// Which cross-origin requests browsers may make.
///
/// Restrictive by default: no CORS headers at all, so browsers allow same-origin only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No CORS headers.
    #[default]
    None,
    /// These exact origins, e.g. `https://app.example.com`.
    List(Vec<HeaderValue>),
    /// Any origin (`*`), without credentials. Refused in production.
    Any,
}

/// Log line format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Everything Chopin needs to start.
///
/// Build it from the environment with [`Config::from_env`], from explicit pairs with
/// [`Config::from_vars`] (no process environment touched), or start from
/// [`Config::default`] and set fields.
///
/// ```
/// use chopin_core::{Config, ServerMode};
///
/// let config = Config::from_vars([("SERVER_MODE", "performance"), ("SERVER_PORT", "0")])?;
/// assert_eq!(config.mode, ServerMode::Performance);
/// assert_eq!(config.port, 0);
/// # Ok::<(), chopin_core::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// `SERVER_MODE`. Default `standard`.
    pub mode: ServerMode,
    /// `SERVER_HOST`: a name (`localhost`) or an IP address. Default `127.0.0.1`.
    pub host: String,
    /// `SERVER_PORT`. Default `3000`; `0` picks a free port.
    pub port: u16,
    /// `SERVER_WORKERS` (performance mode). Default: the number of available cores.
    pub workers: usize,
    /// `SERVER_BACKLOG` (performance mode). Default 1024.
    pub backlog: u32,
    /// `HEADER_READ_TIMEOUT_SECS` (performance mode). Default 10 s; `None` (`0`) disables.
    pub header_read_timeout: Option<Duration>,
    /// `ENVIRONMENT`. Default `development`.
    pub environment: Environment,
    /// `DATABASE_URL`. Default `sqlite:./app.db`. Printed with its password masked.
    pub database_url: DatabaseUrl,
    /// `DATABASE_MAX_CONNECTIONS`. Default 10.
    pub database_max_connections: u32,
    /// `DATABASE_ACQUIRE_TIMEOUT_SECS`: how long a request waits for a connection before
    /// it gets `503`. Default 5 s.
    pub database_acquire_timeout: Duration,
    /// `DATABASE_IDLE_TIMEOUT_SECS`. Default 10 min; `None` (`0`) keeps idle connections.
    pub database_idle_timeout: Option<Duration>,
    /// `JWT_SECRET`. Required outside development; random per process in development.
    pub jwt_secret: JwtSecret,
    /// `JWT_EXPIRY_HOURS`: lifetime of access tokens. Default 24 h.
    pub jwt_expiry: Duration,
    /// `REQUEST_BODY_LIMIT` in bytes. Default 2 MiB; cannot be disabled, only raised.
    pub body_limit: usize,
    /// `REQUEST_TIMEOUT_SECS`. Default 30 s; `None` (`0`) disables.
    pub request_timeout: Option<Duration>,
    /// `SHUTDOWN_TIMEOUT_SECS`: how long in-flight requests may run after a shutdown
    /// signal. Default 10 s; `0` closes connections at once.
    pub shutdown_timeout: Duration,
    /// `CORS_ALLOWED_ORIGINS`. Default none.
    pub cors_origins: CorsOrigins,
    /// `LOG_FORMAT`. Default `text`.
    pub log_format: LogFormat,
    /// `RUST_LOG`. Default `info` (requests are logged at `debug`).
    pub log_filter: String,
}

impl Default for Config {
    /// Development defaults with a fresh random JWT secret.
    fn default() -> Self {
        Self {
            mode: ServerMode::default(),
            host: defaults::SERVER_HOST.to_owned(),
            port: defaults::SERVER_PORT,
            workers: defaults::server_workers(),
            backlog: defaults::SERVER_BACKLOG,
            header_read_timeout: Some(Duration::from_secs(defaults::HEADER_READ_TIMEOUT_SECS)),
            environment: Environment::default(),
            #[allow(clippy::expect_used, reason = "a constant; a test parses it")]
            database_url: DatabaseUrl::new(defaults::DATABASE_URL).expect("default DATABASE_URL"),
            database_max_connections: defaults::DATABASE_MAX_CONNECTIONS,
            database_acquire_timeout: Duration::from_secs(defaults::DATABASE_ACQUIRE_TIMEOUT_SECS),
            database_idle_timeout: Some(Duration::from_secs(defaults::DATABASE_IDLE_TIMEOUT_SECS)),
            jwt_expiry: Duration::from_secs(defaults::JWT_EXPIRY_HOURS * 3600),
            #[allow(clippy::expect_used, reason = "no OS random source is unrecoverable")]
            jwt_secret: JwtSecret::random().expect("OS random source"),
            body_limit: defaults::REQUEST_BODY_LIMIT,
            request_timeout: Some(Duration::from_secs(defaults::REQUEST_TIMEOUT_SECS)),
            shutdown_timeout: Duration::from_secs(defaults::SHUTDOWN_TIMEOUT_SECS),
            cors_origins: CorsOrigins::default(),
            log_format: LogFormat::default(),
            log_filter: defaults::RUST_LOG.to_owned(),
        }
    }
}

impl Config {
    /// Reads `.env` (if present, without overriding variables already set), then the
    /// process environment.
    ///
    /// # Errors
    ///
    /// A malformed `.env` file, or any variable with a malformed value: the error names
    /// the variable, the value (never a secret's) and what is allowed.
    pub fn from_env() -> Result<Self, Error> {
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(Error::dotenv(e)),
        }
        Self::parse(|name| match std::env::var(name) {
            Ok(value) => Ok(Some(value)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::not_unicode(name)),
        })
    }

    /// Builds a configuration from explicit name/value pairs; unlisted variables take
    /// their defaults. The process environment is not read.
    ///
    /// # Errors
    ///
    /// As [`Config::from_env`].
    pub fn from_vars<I, K, V>(vars: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let vars: Vec<(String, String)> = vars
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.into()))
            .collect();
        Self::parse(|name| {
            Ok(vars
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone()))
        })
    }

    fn parse(get: impl Fn(&'static str) -> Result<Option<String>, Error>) -> Result<Self, Error> {
        let mode = match get(vars::SERVER_MODE)? {
            None => ServerMode::default(),
            Some(v) => v.trim().parse().map_err(|()| {
                Error::invalid(vars::SERVER_MODE, &v, "\"standard\" or \"performance\"")
            })?,
        };
        let environment = match get(vars::ENVIRONMENT)? {
            None => Environment::default(),
            Some(v) => v.trim().parse().map_err(|()| {
                Error::invalid(
                    vars::ENVIRONMENT,
                    &v,
                    "\"development\", \"production\" or \"test\"",
                )
            })?,
        };
        let host = match get(vars::SERVER_HOST)? {
            None => defaults::SERVER_HOST.to_owned(),
            Some(v) if v.trim().is_empty() || v.contains(char::is_whitespace) => {
                return Err(Error::invalid(
                    vars::SERVER_HOST,
                    &v,
                    "a host name or IP address, e.g. 127.0.0.1, 0.0.0.0 or localhost",
                ));
            }
            Some(v) => v,
        };
        let port = match get(vars::SERVER_PORT)? {
            None => defaults::SERVER_PORT,
            Some(v) => v.trim().parse().map_err(|_| {
                Error::invalid(
                    vars::SERVER_PORT,
                    &v,
                    "a port number from 0 to 65535 (0 picks a free port)",
                )
            })?,
        };
        let workers = match get(vars::SERVER_WORKERS)? {
            None => defaults::server_workers(),
            Some(v) => in_range(
                vars::SERVER_WORKERS,
                &v,
                1..=1024,
                "a number of worker threads from 1 to 1024",
            )?,
        };
        let backlog = match get(vars::SERVER_BACKLOG)? {
            None => defaults::SERVER_BACKLOG,
            Some(v) => in_range(
                vars::SERVER_BACKLOG,
                &v,
                1..=65535,
                "a queue length from 1 to 65535",
            )?,
        };
        let header_read_timeout = match seconds(
            vars::HEADER_READ_TIMEOUT_SECS,
            get(vars::HEADER_READ_TIMEOUT_SECS)?,
            defaults::HEADER_READ_TIMEOUT_SECS,
        )? {
            Duration::ZERO => None,
            timeout => Some(timeout),
        };
        let database_url = match get(vars::DATABASE_URL)? {
            None => DatabaseUrl::new(defaults::DATABASE_URL)?,
            Some(v) => DatabaseUrl::new(v)?,
        };
        let database_max_connections = match get(vars::DATABASE_MAX_CONNECTIONS)? {
            None => defaults::DATABASE_MAX_CONNECTIONS,
            Some(v) => in_range(
                vars::DATABASE_MAX_CONNECTIONS,
                &v,
                1..=10_000,
                "a number of connections from 1 to 10000",
            )?,
        };
        let database_acquire_timeout = match get(vars::DATABASE_ACQUIRE_TIMEOUT_SECS)? {
            None => Duration::from_secs(defaults::DATABASE_ACQUIRE_TIMEOUT_SECS),
            Some(v) => Duration::from_secs(in_range(
                vars::DATABASE_ACQUIRE_TIMEOUT_SECS,
                &v,
                1..=3600,
                "a whole number of seconds from 1 to 3600",
            )?),
        };
        let database_idle_timeout = match seconds(
            vars::DATABASE_IDLE_TIMEOUT_SECS,
            get(vars::DATABASE_IDLE_TIMEOUT_SECS)?,
            defaults::DATABASE_IDLE_TIMEOUT_SECS,
        )? {
            Duration::ZERO => None,
            timeout => Some(timeout),
        };
        let jwt_secret = jwt_secret(environment, get(vars::JWT_SECRET)?)?;
        let jwt_expiry = match get(vars::JWT_EXPIRY_HOURS)? {
            None => Duration::from_secs(defaults::JWT_EXPIRY_HOURS * 3600),
            Some(v) => Duration::from_secs(
                in_range::<u64>(
                    vars::JWT_EXPIRY_HOURS,
                    &v,
                    1..=24 * 366,
                    "a whole number of hours from 1 to 8784 (one year)",
                )? * 3600,
            ),
        };
        let body_limit = match get(vars::REQUEST_BODY_LIMIT)? {
            None => defaults::REQUEST_BODY_LIMIT,
            Some(v) => v.trim().parse().map_err(|_| {
                Error::invalid(
                    vars::REQUEST_BODY_LIMIT,
                    &v,
                    "a size in bytes, e.g. 2097152 for 2 MiB",
                )
            })?,
        };
        let request_timeout = match seconds(
            vars::REQUEST_TIMEOUT_SECS,
            get(vars::REQUEST_TIMEOUT_SECS)?,
            defaults::REQUEST_TIMEOUT_SECS,
        )? {
            Duration::ZERO => None,
            timeout => Some(timeout),
        };
        let shutdown_timeout = seconds(
            vars::SHUTDOWN_TIMEOUT_SECS,
            get(vars::SHUTDOWN_TIMEOUT_SECS)?,
            defaults::SHUTDOWN_TIMEOUT_SECS,
        )?;
        let cors_origins = cors_origins(environment, get(vars::CORS_ALLOWED_ORIGINS)?)?;
        let log_format = match get(vars::LOG_FORMAT)? {
            None => LogFormat::default(),
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err(Error::invalid(vars::LOG_FORMAT, &v, "\"text\" or \"json\"")),
            },
        };
        let log_filter = match get(vars::RUST_LOG)? {
            None => defaults::RUST_LOG.to_owned(),
            Some(v) => {
                tracing_subscriber::EnvFilter::try_new(&v).map_err(|_| {
                    Error::invalid(
                        vars::RUST_LOG,
                        &v,
                        "tracing filter directives such as \"info\" or \"warn,my_app=debug\"",
                    )
                })?;
                v
            }
        };

        Ok(Self {
            mode,
            host,
            port,
            workers,
            backlog,
            header_read_timeout,
            environment,
            database_url,
            database_max_connections,
            database_acquire_timeout,
            database_idle_timeout,
            jwt_secret,
            jwt_expiry,
            body_limit,
            request_timeout,
            shutdown_timeout,
            cors_origins,
            log_format,
            log_filter,
        })
    }
}

/// `value` parsed as a number within `range`, else an error naming `var`.
fn in_range<T>(
    var: &'static str,
    value: &str,
    range: std::ops::RangeInclusive<T>,
    expected: &'static str,
) -> Result<T, Error>
where
    T: FromStr + PartialOrd,
{
    match value.trim().parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(Error::invalid(var, value, expected)),
    }
}

fn seconds(var: &'static str, value: Option<String>, default: u64) -> Result<Duration, Error> {
    match value {
        None => Ok(Duration::from_secs(default)),
        Some(v) => v
            .trim()
            .parse()
            .map(Duration::from_secs)
            .map_err(|_| Error::invalid(var, &v, "a whole number of seconds (0 disables)")),
    }
}

fn jwt_secret(environment: Environment, value: Option<String>) -> Result<JwtSecret, Error> {
    let min = defaults::JWT_SECRET_MIN_LEN;
    match (value, environment) {
        (None, Environment::Development) => JwtSecret::random(),
        (None, _) => Err(Error::secret(format!(
            "{} is required when ENVIRONMENT={environment}: set it to a random string of at least {min} bytes (e.g. `openssl rand -base64 48`)",
            vars::JWT_SECRET,
        ))),
        (Some(v), Environment::Development) => Ok(JwtSecret::new(v)),
        (Some(v), _) if v.len() < min => Err(Error::secret(format!(
            "{} is {} bytes long; at least {min} are required when ENVIRONMENT={environment}",
            vars::JWT_SECRET,
            v.len(),
        ))),
        (Some(v), _) => Ok(JwtSecret::new(v)),
    }
}

fn cors_origins(environment: Environment, value: Option<String>) -> Result<CorsOrigins, Error> {
    let Some(v) = value else {
        return Ok(CorsOrigins::None);
    };
    let var = vars::CORS_ALLOWED_ORIGINS;
    if v.trim() == "*" {
        return if environment == Environment::Production {
            Err(Error::invalid(
                var,
                &v,
                "a list of origins: \"*\" is refused when ENVIRONMENT=production",
            ))
        } else {
            Ok(CorsOrigins::Any)
        };
    }
    let mut origins = Vec::new();
    for origin in v.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let (scheme, rest) = origin.split_once("://").unwrap_or(("", origin));
        let valid = matches!(scheme, "http" | "https")
            && !rest.is_empty()
            && !rest.contains(['/', '*', ' ']);
        match HeaderValue::from_str(origin) {
            Ok(value) if valid => origins.push(value),
            _ => {
                return Err(Error::invalid(
                    var,
                    &v,
                    "comma-separated origins like https://app.example.com, or \"*\"",
                ));
            }
        }
    }
    Ok(if origins.is_empty() {
        CorsOrigins::None
    } else {
        CorsOrigins::List(origins)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(vars: &[(&str, &str)]) -> String {
        match Config::from_vars(vars.iter().copied()) {
            Ok(config) => panic!("expected an error, got {config:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn ok(vars: &[(&str, &str)]) -> Config {
        match Config::from_vars(vars.iter().copied()) {
            Ok(config) => config,
            Err(e) => panic!("expected a config, got {e}"),
        }
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let c = ok(&[]);
        assert_eq!(c.mode, ServerMode::Standard);
        assert_eq!(c.host, "127.0.0.1");
        assert_eq!(c.port, 3000);
        assert_eq!(c.environment, Environment::Development);
        assert_eq!(c.database_url.expose_secret(), "sqlite:./app.db");
        assert!(c.jwt_secret.is_generated());
        assert_eq!(c.jwt_secret.as_bytes().len(), 32);
        assert_eq!(c.body_limit, 2 * 1024 * 1024);
        assert_eq!(c.request_timeout, Some(Duration::from_secs(30)));
        assert_eq!(c.shutdown_timeout, Duration::from_secs(10));
        assert_eq!(c.cors_origins, CorsOrigins::None);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.log_filter, "info");
    }

    #[test]
    fn generated_secrets_differ_per_process_start() {
        assert_ne!(ok(&[]).jwt_secret.as_bytes(), ok(&[]).jwt_secret.as_bytes());
    }

    #[test]
    fn server_mode() {
        assert_eq!(
            ok(&[("SERVER_MODE", "performance")]).mode,
            ServerMode::Performance
        );
        assert_eq!(
            ok(&[("SERVER_MODE", "Standard")]).mode,
            ServerMode::Standard
        );
        assert_eq!(
            err(&[("SERVER_MODE", "fast")]),
            "invalid SERVER_MODE \"fast\": expected \"standard\" or \"performance\""
        );
    }

    #[test]
    fn environment() {
        assert_eq!(
            ok(&[("ENVIRONMENT", "test"), ("JWT_SECRET", &"x".repeat(32))]).environment,
            Environment::Test
        );
        assert_eq!(
            err(&[("ENVIRONMENT", "prod")]),
            "invalid ENVIRONMENT \"prod\": expected \"development\", \"production\" or \"test\""
        );
    }

    #[test]
    fn host() {
        assert_eq!(ok(&[("SERVER_HOST", "localhost")]).host, "localhost");
        assert_eq!(ok(&[("SERVER_HOST", "::1")]).host, "::1");
        assert!(err(&[("SERVER_HOST", "")]).starts_with("invalid SERVER_HOST \"\": expected"));
        assert!(err(&[("SERVER_HOST", "my host")]).contains("SERVER_HOST"));
    }

    #[test]
    fn port() {
        assert_eq!(ok(&[("SERVER_PORT", "8080")]).port, 8080);
        assert_eq!(ok(&[("SERVER_PORT", "0")]).port, 0);
        let expected = "expected a port number from 0 to 65535 (0 picks a free port)";
        assert_eq!(
            err(&[("SERVER_PORT", "abc")]),
            format!("invalid SERVER_PORT \"abc\": {expected}")
        );
        assert_eq!(
            err(&[("SERVER_PORT", "70000")]),
            format!("invalid SERVER_PORT \"70000\": {expected}")
        );
        assert_eq!(
            err(&[("SERVER_PORT", "-1")]),
            format!("invalid SERVER_PORT \"-1\": {expected}")
        );
        assert_eq!(
            err(&[("SERVER_PORT", "")]),
            format!("invalid SERVER_PORT \"\": {expected}")
        );
    }

    #[test]
    fn performance_settings() {
        let c = ok(&[
            ("SERVER_WORKERS", "4"),
            ("SERVER_BACKLOG", "4096"),
            ("HEADER_READ_TIMEOUT_SECS", "0"),
        ]);
        assert_eq!(
            (c.workers, c.backlog, c.header_read_timeout),
            (4, 4096, None)
        );
        let d = ok(&[]);
        assert!(d.workers >= 1);
        assert_eq!(d.backlog, 1024);
        assert_eq!(d.header_read_timeout, Some(Duration::from_secs(10)));
        for bad in ["0", "many", "-2", "5000"] {
            assert_eq!(
                err(&[("SERVER_WORKERS", bad)]),
                format!(
                    "invalid SERVER_WORKERS \"{bad}\": expected a number of worker threads from 1 to 1024"
                )
            );
        }
        assert_eq!(
            err(&[("SERVER_BACKLOG", "0")]),
            "invalid SERVER_BACKLOG \"0\": expected a queue length from 1 to 65535"
        );
        assert!(
            err(&[("HEADER_READ_TIMEOUT_SECS", "x")])
                .starts_with("invalid HEADER_READ_TIMEOUT_SECS \"x\"")
        );
    }

    #[test]
    fn database_url() {
        assert_eq!(
            ok(&[("DATABASE_URL", "sqlite::memory:")])
                .database_url
                .expose_secret(),
            "sqlite::memory:"
        );
        assert!(err(&[("DATABASE_URL", "app.db")]).starts_with("invalid DATABASE_URL \"app.db\""));
        let mysql = err(&[("DATABASE_URL", "mysql://root:hunter2@db/app")]);
        assert!(mysql.starts_with("invalid DATABASE_URL"), "{mysql}");
        assert!(
            !mysql.contains("hunter2"),
            "the password is masked: {mysql}"
        );
    }

    #[test]
    fn database_pool() {
        let config = ok(&[]);
        assert_eq!(config.database_max_connections, 10);
        assert_eq!(config.database_acquire_timeout, Duration::from_secs(5));
        assert_eq!(config.database_idle_timeout, Some(Duration::from_secs(600)));
        let config = ok(&[
            ("DATABASE_MAX_CONNECTIONS", "3"),
            ("DATABASE_ACQUIRE_TIMEOUT_SECS", "1"),
            ("DATABASE_IDLE_TIMEOUT_SECS", "0"),
        ]);
        assert_eq!(config.database_max_connections, 3);
        assert_eq!(config.database_acquire_timeout, Duration::from_secs(1));
        assert_eq!(config.database_idle_timeout, None);
        assert!(
            err(&[("DATABASE_MAX_CONNECTIONS", "0")])
                .starts_with("invalid DATABASE_MAX_CONNECTIONS \"0\"")
        );
        assert!(
            err(&[("DATABASE_ACQUIRE_TIMEOUT_SECS", "0")])
                .starts_with("invalid DATABASE_ACQUIRE_TIMEOUT_SECS \"0\"")
        );
    }

    #[test]
    fn jwt_expiry() {
        assert_eq!(ok(&[]).jwt_expiry, Duration::from_secs(24 * 3600));
        assert_eq!(
            ok(&[("JWT_EXPIRY_HOURS", "2")]).jwt_expiry,
            Duration::from_secs(7200)
        );
        for bad in ["0", "-1", "1.5", "9000"] {
            assert!(
                err(&[("JWT_EXPIRY_HOURS", bad)]).starts_with("invalid JWT_EXPIRY_HOURS"),
                "{bad}"
            );
        }
    }

    #[test]
    fn jwt_secret_in_development() {
        let c = ok(&[("JWT_SECRET", "short")]);
        assert_eq!(c.jwt_secret.as_bytes(), b"short");
        assert!(!c.jwt_secret.is_generated());
    }

    #[test]
    fn jwt_secret_outside_development() {
        for env in ["production", "test"] {
            let missing = err(&[("ENVIRONMENT", env)]);
            assert!(
                missing.starts_with(&format!("JWT_SECRET is required when ENVIRONMENT={env}")),
                "{missing}"
            );
            let short = err(&[("ENVIRONMENT", env), ("JWT_SECRET", "hunter2")]);
            assert_eq!(
                short,
                format!(
                    "JWT_SECRET is 7 bytes long; at least 32 are required when ENVIRONMENT={env}"
                )
            );
            assert!(!short.contains("hunter2"));
            let secret = "s".repeat(32);
            let c = ok(&[("ENVIRONMENT", env), ("JWT_SECRET", &secret)]);
            assert_eq!(c.jwt_secret.as_bytes(), secret.as_bytes());
        }
    }

    #[test]
    fn jwt_secret_is_not_printed_by_debug() {
        let c = ok(&[("JWT_SECRET", "very-secret-value")]);
        assert!(!format!("{c:?}").contains("very-secret-value"));
    }

    #[test]
    fn body_limit() {
        assert_eq!(ok(&[("REQUEST_BODY_LIMIT", "1024")]).body_limit, 1024);
        assert_eq!(
            err(&[("REQUEST_BODY_LIMIT", "2MB")]),
            "invalid REQUEST_BODY_LIMIT \"2MB\": expected a size in bytes, e.g. 2097152 for 2 MiB"
        );
    }

    #[test]
    fn timeouts() {
        let c = ok(&[
            ("REQUEST_TIMEOUT_SECS", "5"),
            ("SHUTDOWN_TIMEOUT_SECS", "0"),
        ]);
        assert_eq!(c.request_timeout, Some(Duration::from_secs(5)));
        assert_eq!(c.shutdown_timeout, Duration::ZERO);
        assert_eq!(ok(&[("REQUEST_TIMEOUT_SECS", "0")]).request_timeout, None);
        assert_eq!(
            err(&[("REQUEST_TIMEOUT_SECS", "1.5")]),
            "invalid REQUEST_TIMEOUT_SECS \"1.5\": expected a whole number of seconds (0 disables)"
        );
        assert!(err(&[("SHUTDOWN_TIMEOUT_SECS", "soon")]).starts_with(
            "invalid SHUTDOWN_TIMEOUT_SECS \"soon\": expected a whole number of seconds"
        ));
    }

    #[test]
    fn cors_origins() {
        let c = ok(&[(
            "CORS_ALLOWED_ORIGINS",
            "https://app.example.com, http://localhost:5173",
        )]);
        assert_eq!(
            c.cors_origins,
            CorsOrigins::List(vec![
                HeaderValue::from_static("https://app.example.com"),
                HeaderValue::from_static("http://localhost:5173"),
            ])
        );
        assert_eq!(
            ok(&[("CORS_ALLOWED_ORIGINS", "*")]).cors_origins,
            CorsOrigins::Any
        );
        assert_eq!(
            ok(&[("CORS_ALLOWED_ORIGINS", "")]).cors_origins,
            CorsOrigins::None
        );
        assert!(
            err(&[("CORS_ALLOWED_ORIGINS", "app.example.com")])
                .starts_with("invalid CORS_ALLOWED_ORIGINS \"app.example.com\": expected")
        );
        assert!(
            err(&[("CORS_ALLOWED_ORIGINS", "https://a.com/path")]).contains("CORS_ALLOWED_ORIGINS")
        );
        let production = [
            ("ENVIRONMENT", "production"),
            ("JWT_SECRET", &"s".repeat(32)),
            ("CORS_ALLOWED_ORIGINS", "*"),
        ];
        assert!(err(&production).contains("\"*\" is refused when ENVIRONMENT=production"));
    }

    #[test]
    fn log_settings() {
        assert_eq!(ok(&[("LOG_FORMAT", "json")]).log_format, LogFormat::Json);
        assert_eq!(
            err(&[("LOG_FORMAT", "xml")]),
            "invalid LOG_FORMAT \"xml\": expected \"text\" or \"json\""
        );
        assert_eq!(
            ok(&[("RUST_LOG", "warn,chopin_core=debug")]).log_filter,
            "warn,chopin_core=debug"
        );
        assert!(err(&[("RUST_LOG", "info,[[[")]).starts_with("invalid RUST_LOG"));
    }

    #[test]
    fn later_pairs_override_earlier_ones() {
        assert_eq!(ok(&[("SERVER_PORT", "1"), ("SERVER_PORT", "2")]).port, 2);
    }

    #[test]
    fn database_password_is_not_printed_by_debug() {
        let c = ok(&[(
            "DATABASE_URL",
            "postgres://app:hunter2@db/app?password=hunter2",
        )]);
        let printed = format!("{c:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("postgres://app:***@db/app?password=***"));
        assert!(!format!("{c:#?}").contains("hunter2"));
    }

    #[test]
    fn the_default_database_url_parses() {
        assert_eq!(
            DatabaseUrl::new(defaults::DATABASE_URL)
                .unwrap()
                .expose_secret(),
            "sqlite:./app.db"
        );
    }
}
