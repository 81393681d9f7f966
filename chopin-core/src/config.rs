//! Configuration from environment variables, a `.env` file, or code.
//!
//! Every variable, its default and its unit is listed in `docs/configuration.md`;
//! the names live in [`vars`] and the defaults in [`defaults`], nowhere else.

mod database_url;

use std::{collections::HashMap, fmt, path::Path, str::FromStr, time::Duration};

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
    /// Longest time a client may take to send a request head, and longest time an
    /// HTTP/1 connection may sit idle between requests, in seconds; `0` disables.
    pub const HEADER_READ_TIMEOUT_SECS: &str = "HEADER_READ_TIMEOUT_SECS";
    /// Most connections served at once per process; past it no more are accepted until
    /// one closes.
    pub const MAX_CONNECTIONS: &str = "MAX_CONNECTIONS";
    /// Largest request head (request line and headers) read, in bytes; larger gets `431`.
    pub const REQUEST_HEAD_LIMIT: &str = "REQUEST_HEAD_LIMIT";
    /// Longest time a response write may make no progress before the connection is
    /// closed, in seconds; `0` disables.
    pub const WRITE_TIMEOUT_SECS: &str = "WRITE_TIMEOUT_SECS";
    /// `on` or `off`: performance mode answers fast routes from its own connection loop.
    pub const FAST_LANE: &str = "FAST_LANE";
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
    /// 10 seconds: generous for real clients, short enough to shed slowloris and idle
    /// keep-alive connections.
    pub const HEADER_READ_TIMEOUT_SECS: u64 = 10;
    /// Connections served at once per process: far above what a test or a small
    /// deployment needs, far below the descriptor limits of a tuned host.
    pub const MAX_CONNECTIONS: usize = 10_000;
    /// 32 KiB of request line and headers: room for large cookies and tokens, not for
    /// a client that streams headers to fill memory.
    pub const REQUEST_HEAD_LIMIT: usize = 32 * 1024;
    /// 30 seconds without progress on a response write (a client that stopped reading).
    pub const WRITE_TIMEOUT_SECS: u64 = 30;

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
/// [`Config::default`] and set fields; [`Config::validate`] applies the variables' rules
/// to the fields, and [`crate::App::with_config`] calls it.
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
    /// `MAX_CONNECTIONS`: connections served at once per process, both modes; when full,
    /// no more are accepted until one closes. Default 10000.
    pub max_connections: usize,
    /// `REQUEST_HEAD_LIMIT` in bytes: a larger request head gets `431`. Default 32 KiB.
    pub request_head_limit: usize,
    /// `HEADER_READ_TIMEOUT_SECS`: how long a client may take to send a request head,
    /// and how long an HTTP/1 connection may wait idle for its next request. Default
    /// 10 s; `None` (`0`) disables.
    pub header_read_timeout: Option<Duration>,
    /// `WRITE_TIMEOUT_SECS`: a response write that makes no progress this long (the
    /// client stopped reading) closes the connection. Default 30 s; `None` (`0`)
    /// disables.
    pub write_timeout: Option<Duration>,
    /// `FAST_LANE` (performance mode): answer fast routes from Chopin's own connection
    /// loop before handing a connection to hyper. Default `true`; `false` serves every
    /// request through hyper, as standard mode does.
    pub fast_lane: bool,
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
            max_connections: defaults::MAX_CONNECTIONS,
            request_head_limit: defaults::REQUEST_HEAD_LIMIT,
            header_read_timeout: Some(Duration::from_secs(defaults::HEADER_READ_TIMEOUT_SECS)),
            write_timeout: Some(Duration::from_secs(defaults::WRITE_TIMEOUT_SECS)),
            fast_lane: true,
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
    /// Reads the process environment and `.env` in the working directory, if there is
    /// one; a variable set in the environment wins over the same one in `.env`. The
    /// process environment is read, never changed.
    ///
    /// # Errors
    ///
    /// A malformed `.env` file, or any variable with a malformed value: the error names
    /// the variable, the value (never a secret's) and what is allowed.
    pub fn from_env() -> Result<Self, Error> {
        let file = dot_env(Path::new(".env"))?;
        Self::parse(&|name| match std::env::var(name) {
            Ok(value) => Ok(Some(value)),
            Err(std::env::VarError::NotPresent) => Ok(file.get(name).cloned()),
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
        let vars: HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.into()))
            .collect();
        Self::parse(&|name| Ok(vars.get(name).cloned()))
    }

    /// Checks every field against the rules its variable is parsed with: ranges, the
    /// JWT secret and CORS rules of the environment, the host and log filter syntax.
    /// Configurations from [`Config::from_env`] and [`Config::from_vars`] pass already;
    /// this is for one built or changed in code.
    ///
    /// ```
    /// use std::time::Duration;
    /// use chopin_core::{Config, Environment};
    ///
    /// let mut config = Config::default();
    /// config.request_timeout = Some(Duration::from_secs(5));
    /// config.validate()?;
    ///
    /// config.environment = Environment::Production; // with a generated JWT secret
    /// assert!(config.validate().unwrap_err().to_string().starts_with("JWT_SECRET is required"));
    /// # Ok::<(), chopin_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The first field out of bounds, named with its variable, e.g.
    /// `invalid Config::write_timeout 7200s (WRITE_TIMEOUT_SECS): expected a duration
    /// above zero and at most 3600 seconds, or None`.
    pub fn validate(&self) -> Result<(), Error> {
        host(&self.host)?;
        WORKERS.check(self.workers)?;
        BACKLOG.check(self.backlog)?;
        MAX_CONNECTIONS.check(self.max_connections)?;
        REQUEST_HEAD_LIMIT.check(self.request_head_limit)?;
        HEADER_READ_TIMEOUT.check_optional(self.header_read_timeout)?;
        WRITE_TIMEOUT.check_optional(self.write_timeout)?;
        DATABASE_MAX_CONNECTIONS.check(self.database_max_connections)?;
        DATABASE_ACQUIRE_TIMEOUT.check(self.database_acquire_timeout)?;
        DATABASE_IDLE_TIMEOUT.check_optional(self.database_idle_timeout)?;
        jwt_secret(self.environment, &self.jwt_secret)?;
        JWT_EXPIRY.check(self.jwt_expiry)?;
        REQUEST_TIMEOUT.check_optional(self.request_timeout)?;
        SHUTDOWN_TIMEOUT.check(self.shutdown_timeout)?;
        cors_origins(self.environment, &self.cors_origins)?;
        log_filter(&self.log_filter)
    }

    fn parse(get: &Get<'_>) -> Result<Self, Error> {
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
            Some(v) => {
                self::host(&v)?;
                v
            }
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
        let database_url = match get(vars::DATABASE_URL)? {
            None => DatabaseUrl::new(defaults::DATABASE_URL)?,
            Some(v) => DatabaseUrl::new(v)?,
        };
        // Outside development an unset secret is refused by `validate` below, with the
        // same message as a code-built configuration gets.
        let jwt_secret = match get(vars::JWT_SECRET)? {
            None => JwtSecret::random()?,
            Some(v) => JwtSecret::new(v),
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
        let cors_origins = match get(vars::CORS_ALLOWED_ORIGINS)? {
            None => CorsOrigins::None,
            Some(v) => parse_cors_origins(&v)?,
        };
        let fast_lane = match get(vars::FAST_LANE)? {
            None => true,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "on" => true,
                "off" => false,
                _ => return Err(Error::invalid(vars::FAST_LANE, &v, "\"on\" or \"off\"")),
            },
        };
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
                self::log_filter(&v)?;
                v
            }
        };

        let config = Self {
            mode,
            host,
            port,
            workers: WORKERS.parse(get, defaults::server_workers())?,
            backlog: BACKLOG.parse(get, defaults::SERVER_BACKLOG)?,
            max_connections: MAX_CONNECTIONS.parse(get, defaults::MAX_CONNECTIONS)?,
            request_head_limit: REQUEST_HEAD_LIMIT.parse(get, defaults::REQUEST_HEAD_LIMIT)?,
            header_read_timeout: HEADER_READ_TIMEOUT
                .parse_optional(get, defaults::HEADER_READ_TIMEOUT_SECS)?,
            write_timeout: WRITE_TIMEOUT.parse_optional(get, defaults::WRITE_TIMEOUT_SECS)?,
            fast_lane,
            environment,
            database_url,
            database_max_connections: DATABASE_MAX_CONNECTIONS
                .parse(get, defaults::DATABASE_MAX_CONNECTIONS)?,
            database_acquire_timeout: DATABASE_ACQUIRE_TIMEOUT
                .parse(get, defaults::DATABASE_ACQUIRE_TIMEOUT_SECS)?,
            database_idle_timeout: DATABASE_IDLE_TIMEOUT
                .parse_optional(get, defaults::DATABASE_IDLE_TIMEOUT_SECS)?,
            jwt_secret,
            jwt_expiry: JWT_EXPIRY.parse(get, defaults::JWT_EXPIRY_HOURS)?,
            body_limit,
            request_timeout: REQUEST_TIMEOUT.parse_optional(get, defaults::REQUEST_TIMEOUT_SECS)?,
            shutdown_timeout: SHUTDOWN_TIMEOUT.parse(get, defaults::SHUTDOWN_TIMEOUT_SECS)?,
            cors_origins,
            log_format,
            log_filter,
        };
        // The rules that join two settings (secret and CORS by environment).
        config.validate()?;
        Ok(config)
    }
}

/// Looks a variable up: `Ok(None)` when it is not set.
type Get<'a> = dyn Fn(&'static str) -> Result<Option<String>, Error> + 'a;

/// The variables of a `.env` file at `path`, or none if there is no such file. The
/// process environment is left alone.
fn dot_env(path: &Path) -> Result<HashMap<String, String>, Error> {
    let lines = match dotenvy::from_path_iter(path) {
        Ok(lines) => lines,
        Err(e) if e.not_found() => return Ok(HashMap::new()),
        Err(e) => return Err(Error::dotenv(e)),
    };
    lines.map(|line| line.map_err(Error::dotenv)).collect()
}

/// A whole-number setting and the values it accepts.
struct Count<T> {
    var: &'static str,
    field: &'static str,
    /// What the number is, e.g. "a number of worker threads".
    what: &'static str,
    range: std::ops::RangeInclusive<T>,
}

const WORKERS: Count<usize> = Count {
    var: vars::SERVER_WORKERS,
    field: "workers",
    what: "a number of worker threads",
    range: 1..=1024,
};
const BACKLOG: Count<u32> = Count {
    var: vars::SERVER_BACKLOG,
    field: "backlog",
    what: "a queue length",
    range: 1..=65535,
};
const MAX_CONNECTIONS: Count<usize> = Count {
    var: vars::MAX_CONNECTIONS,
    field: "max_connections",
    what: "a number of connections",
    range: 1..=1_000_000,
};
/// hyper refuses a read buffer under 8 KiB.
const REQUEST_HEAD_LIMIT: Count<usize> = Count {
    var: vars::REQUEST_HEAD_LIMIT,
    field: "request_head_limit",
    what: "a size in bytes",
    range: 8192..=1024 * 1024,
};
const DATABASE_MAX_CONNECTIONS: Count<u32> = Count {
    var: vars::DATABASE_MAX_CONNECTIONS,
    field: "database_max_connections",
    what: "a number of connections",
    range: 1..=10_000,
};

impl<T: Copy + FromStr + PartialOrd + fmt::Display> Count<T> {
    fn expected(&self) -> String {
        format!(
            "{} from {} to {}",
            self.what,
            self.range.start(),
            self.range.end()
        )
    }

    fn parse(&self, get: &Get<'_>, default: T) -> Result<T, Error> {
        let Some(v) = get(self.var)? else {
            return Ok(default);
        };
        match v.trim().parse::<T>() {
            Ok(n) if self.range.contains(&n) => Ok(n),
            _ => Err(Error::invalid(self.var, &v, self.expected())),
        }
    }

    fn check(&self, n: T) -> Result<(), Error> {
        if self.range.contains(&n) {
            Ok(())
        } else {
            Err(Error::invalid_field(
                self.field,
                self.var,
                n.to_string(),
                self.expected(),
            ))
        }
    }
}

/// A duration setting, written as a whole number of `unit`s. Bounded so that adding
/// it to an `Instant` can never overflow.
struct Span {
    var: &'static str,
    field: &'static str,
    unit: Unit,
    /// Longest accepted, in `unit`s.
    max: u64,
    zero: Zero,
}

#[derive(Clone, Copy)]
enum Unit {
    Seconds,
    Hours,
}

impl Unit {
    fn seconds(self) -> u64 {
        match self {
            Self::Seconds => 1,
            Self::Hours => 3600,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Seconds => "seconds",
            Self::Hours => "hours",
        }
    }
}

/// What `0` means for a [`Span`].
#[derive(Clone, Copy)]
enum Zero {
    /// Nothing: the setting must be positive.
    Refused,
    /// The field is an `Option`, `None` for `0`; said as e.g. "0 disables".
    Disables(&'static str),
    /// A real zero duration; said as e.g. "0 closes connections at once".
    Allowed(&'static str),
}

const HEADER_READ_TIMEOUT: Span = Span {
    var: vars::HEADER_READ_TIMEOUT_SECS,
    field: "header_read_timeout",
    unit: Unit::Seconds,
    max: 3600,
    zero: Zero::Disables("0 disables"),
};
const WRITE_TIMEOUT: Span = Span {
    var: vars::WRITE_TIMEOUT_SECS,
    field: "write_timeout",
    unit: Unit::Seconds,
    max: 3600,
    zero: Zero::Disables("0 disables"),
};
const DATABASE_ACQUIRE_TIMEOUT: Span = Span {
    var: vars::DATABASE_ACQUIRE_TIMEOUT_SECS,
    field: "database_acquire_timeout",
    unit: Unit::Seconds,
    max: 3600,
    zero: Zero::Refused,
};
const DATABASE_IDLE_TIMEOUT: Span = Span {
    var: vars::DATABASE_IDLE_TIMEOUT_SECS,
    field: "database_idle_timeout",
    unit: Unit::Seconds,
    max: 86400,
    zero: Zero::Disables("0 keeps idle connections"),
};
const JWT_EXPIRY: Span = Span {
    var: vars::JWT_EXPIRY_HOURS,
    field: "jwt_expiry",
    unit: Unit::Hours,
    max: 24 * 366,
    zero: Zero::Refused,
};
const REQUEST_TIMEOUT: Span = Span {
    var: vars::REQUEST_TIMEOUT_SECS,
    field: "request_timeout",
    unit: Unit::Seconds,
    max: 86400,
    zero: Zero::Disables("0 disables"),
};
const SHUTDOWN_TIMEOUT: Span = Span {
    var: vars::SHUTDOWN_TIMEOUT_SECS,
    field: "shutdown_timeout",
    unit: Unit::Seconds,
    max: 3600,
    zero: Zero::Allowed("0 closes connections at once"),
};

impl Span {
    /// What the variable accepts.
    fn expected(&self) -> String {
        let (min, note) = match self.zero {
            Zero::Refused => (1, String::new()),
            Zero::Disables(note) | Zero::Allowed(note) => (0, format!(" ({note})")),
        };
        format!(
            "a whole number of {} from {min} to {}{note}",
            self.unit.name(),
            self.max
        )
    }

    /// The variable in whole units, within bounds; `default` is in units too.
    fn parse(&self, get: &Get<'_>, default: u64) -> Result<Duration, Error> {
        let units = match get(self.var)? {
            None => default,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if n <= self.max && (n > 0 || !matches!(self.zero, Zero::Refused)) => n,
                _ => return Err(Error::invalid(self.var, &v, self.expected())),
            },
        };
        Ok(Duration::from_secs(units * self.unit.seconds()))
    }

    /// As [`Span::parse`], `0` meaning `None`.
    fn parse_optional(&self, get: &Get<'_>, default: u64) -> Result<Option<Duration>, Error> {
        Ok(Some(self.parse(get, default)?).filter(|d| !d.is_zero()))
    }

    /// A field set in code may be finer than whole units, not longer than the maximum.
    fn check(&self, duration: Duration) -> Result<(), Error> {
        let longest = Duration::from_secs(self.max * self.unit.seconds());
        let zero_ok = matches!(self.zero, Zero::Allowed(_));
        if duration <= longest && (zero_ok || !duration.is_zero()) {
            return Ok(());
        }
        let lower = if zero_ok { "" } else { "above zero and " };
        let none = if matches!(self.zero, Zero::Disables(_)) {
            ", or None"
        } else {
            ""
        };
        Err(Error::invalid_field(
            self.field,
            self.var,
            format!("{duration:?}"),
            format!(
                "a duration {lower}at most {} {}{none}",
                self.max,
                self.unit.name()
            ),
        ))
    }

    fn check_optional(&self, duration: Option<Duration>) -> Result<(), Error> {
        duration.map_or(Ok(()), |d| self.check(d))
    }
}

fn host(host: &str) -> Result<(), Error> {
    if host.trim().is_empty() || host.contains(char::is_whitespace) {
        return Err(Error::invalid(
            vars::SERVER_HOST,
            host,
            "a host name or IP address, e.g. 127.0.0.1, 0.0.0.0 or localhost",
        ));
    }
    Ok(())
}

fn log_filter(filter: &str) -> Result<(), Error> {
    match tracing_subscriber::EnvFilter::try_new(filter) {
        Ok(_) => Ok(()),
        Err(_) => Err(Error::invalid(
            vars::RUST_LOG,
            filter,
            "tracing filter directives such as \"info\" or \"warn,my_app=debug\"",
        )),
    }
}

fn jwt_secret(environment: Environment, secret: &JwtSecret) -> Result<(), Error> {
    let min = defaults::JWT_SECRET_MIN_LEN;
    let len = secret.as_bytes().len();
    match environment {
        Environment::Development => Ok(()),
        _ if secret.is_generated() => Err(Error::secret(format!(
            "{} is required when ENVIRONMENT={environment}: set it to a random string of at least {min} bytes (e.g. `openssl rand -base64 48`)",
            vars::JWT_SECRET,
        ))),
        _ if len < min => Err(Error::secret(format!(
            "{} is {len} bytes long; at least {min} are required when ENVIRONMENT={environment}",
            vars::JWT_SECRET,
        ))),
        _ => Ok(()),
    }
}

const ORIGINS_EXPECTED: &str = "comma-separated origins like https://app.example.com, or \"*\"";

fn parse_cors_origins(v: &str) -> Result<CorsOrigins, Error> {
    if v.trim() == "*" {
        return Ok(CorsOrigins::Any);
    }
    let mut origins = Vec::new();
    for origin in v.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match HeaderValue::from_str(origin) {
            Ok(value) if is_origin(origin) => origins.push(value),
            _ => {
                return Err(Error::invalid(
                    vars::CORS_ALLOWED_ORIGINS,
                    v,
                    ORIGINS_EXPECTED,
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

/// `scheme://host[:port]`, as a browser sends it in `Origin`.
fn is_origin(origin: &str) -> bool {
    let (scheme, rest) = origin.split_once("://").unwrap_or(("", origin));
    matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains(['/', '*', ' '])
}

fn cors_origins(environment: Environment, origins: &CorsOrigins) -> Result<(), Error> {
    let var = vars::CORS_ALLOWED_ORIGINS;
    match origins {
        CorsOrigins::None => Ok(()),
        CorsOrigins::Any if environment == Environment::Production => Err(Error::invalid(
            var,
            "*",
            "a list of origins: \"*\" is refused when ENVIRONMENT=production",
        )),
        CorsOrigins::Any => Ok(()),
        CorsOrigins::List(list) => {
            for origin in list {
                match origin.to_str() {
                    Ok(text) if is_origin(text) => {}
                    _ => {
                        let shown = String::from_utf8_lossy(origin.as_bytes());
                        return Err(Error::invalid(var, &shown, ORIGINS_EXPECTED));
                    }
                }
            }
            Ok(())
        }
    }
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
        assert_eq!(c.max_connections, 10_000);
        assert_eq!(c.request_head_limit, 32 * 1024);
        assert_eq!(c.write_timeout, Some(Duration::from_secs(30)));
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
            "invalid REQUEST_TIMEOUT_SECS \"1.5\": expected a whole number of seconds from 0 to 86400 (0 disables)"
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
        assert!(ok(&[]).fast_lane);
        assert!(!ok(&[("FAST_LANE", "OFF")]).fast_lane);
        assert_eq!(
            err(&[("FAST_LANE", "maybe")]),
            "invalid FAST_LANE \"maybe\": expected \"on\" or \"off\""
        );
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
    fn connection_policy_settings() {
        let c = ok(&[
            ("MAX_CONNECTIONS", "250"),
            ("REQUEST_HEAD_LIMIT", "8192"),
            ("WRITE_TIMEOUT_SECS", "0"),
        ]);
        assert_eq!(
            (c.max_connections, c.request_head_limit, c.write_timeout),
            (250, 8192, None)
        );
        assert_eq!(
            ok(&[("WRITE_TIMEOUT_SECS", "3600")]).write_timeout,
            Some(Duration::from_secs(3600))
        );
        for bad in ["0", "1000001", "lots"] {
            assert_eq!(
                err(&[("MAX_CONNECTIONS", bad)]),
                format!(
                    "invalid MAX_CONNECTIONS \"{bad}\": expected a number of connections from 1 to 1000000"
                )
            );
        }
        for bad in ["8191", "1048577", "32KiB"] {
            assert_eq!(
                err(&[("REQUEST_HEAD_LIMIT", bad)]),
                format!(
                    "invalid REQUEST_HEAD_LIMIT \"{bad}\": expected a size in bytes from 8192 to 1048576"
                )
            );
        }
        assert_eq!(
            err(&[("WRITE_TIMEOUT_SECS", "3601")]),
            "invalid WRITE_TIMEOUT_SECS \"3601\": expected a whole number of seconds from 0 to 3600 (0 disables)"
        );
    }

    /// Each duration variable with the largest value it takes, and what it says when
    /// refusing one more.
    const BOUNDED: [(&str, u64, &str); 8] = [
        (
            "HEADER_READ_TIMEOUT_SECS",
            3600,
            "a whole number of seconds from 0 to 3600 (0 disables)",
        ),
        (
            "WRITE_TIMEOUT_SECS",
            3600,
            "a whole number of seconds from 0 to 3600 (0 disables)",
        ),
        (
            "DATABASE_ACQUIRE_TIMEOUT_SECS",
            3600,
            "a whole number of seconds from 1 to 3600",
        ),
        (
            "DATABASE_IDLE_TIMEOUT_SECS",
            86400,
            "a whole number of seconds from 0 to 86400 (0 keeps idle connections)",
        ),
        (
            "JWT_EXPIRY_HOURS",
            8784,
            "a whole number of hours from 1 to 8784",
        ),
        (
            "REQUEST_TIMEOUT_SECS",
            86400,
            "a whole number of seconds from 0 to 86400 (0 disables)",
        ),
        (
            "SHUTDOWN_TIMEOUT_SECS",
            3600,
            "a whole number of seconds from 0 to 3600 (0 closes connections at once)",
        ),
        (
            "SERVER_WORKERS",
            1024,
            "a number of worker threads from 1 to 1024",
        ),
    ];

    #[test]
    fn durations_are_bounded_so_deadlines_cannot_overflow() {
        for (var, max, expected) in BOUNDED {
            ok(&[(var, &max.to_string())]);
            for bad in [max + 1, u64::MAX] {
                assert_eq!(
                    err(&[(var, &bad.to_string())]),
                    format!("invalid {var} \"{bad}\": expected {expected}")
                );
            }
            assert_eq!(
                err(&[(var, "18446744073709551616")]),
                format!("invalid {var} \"18446744073709551616\": expected {expected}")
            );
        }
        let c = ok(&[
            ("HEADER_READ_TIMEOUT_SECS", "3600"),
            ("REQUEST_TIMEOUT_SECS", "86400"),
            ("JWT_EXPIRY_HOURS", "8784"),
        ]);
        let now = std::time::Instant::now();
        for d in [
            c.header_read_timeout.unwrap(),
            c.request_timeout.unwrap(),
            c.jwt_expiry,
        ] {
            assert!(now.checked_add(d).is_some());
        }
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

    /// `Config::default()` changed by `set`, as code builds one.
    fn built(set: impl FnOnce(&mut Config)) -> Config {
        let mut config = Config::default();
        set(&mut config);
        config
    }

    /// What `validate` says of a config built by `set`.
    fn refused(set: impl FnOnce(&mut Config)) -> String {
        let config = built(set);
        match config.validate() {
            Ok(()) => panic!("expected {config:?} to be refused"),
            Err(e) => {
                assert!(e.is_config(), "{e}");
                e.to_string()
            }
        }
    }

    #[test]
    fn validate_accepts_defaults_and_parsed_configs() {
        Config::default().validate().unwrap();
        ok(&[
            ("ENVIRONMENT", "production"),
            ("JWT_SECRET", &"s".repeat(32)),
        ])
        .validate()
        .unwrap();
        // Finer than whole seconds is fine in code.
        built(|c| {
            c.request_timeout = Some(Duration::from_millis(100));
            c.shutdown_timeout = Duration::ZERO;
            c.header_read_timeout = None;
        })
        .validate()
        .unwrap();
    }

    #[test]
    fn validate_bounds_durations_set_in_code() {
        assert_eq!(
            refused(|c| c.write_timeout = Some(Duration::from_secs(u64::MAX))),
            format!(
                "invalid Config::write_timeout {:?} (WRITE_TIMEOUT_SECS): expected a duration above zero and at most 3600 seconds, or None",
                Duration::from_secs(u64::MAX)
            )
        );
        assert_eq!(
            refused(|c| c.header_read_timeout = Some(Duration::ZERO)),
            "invalid Config::header_read_timeout 0ns (HEADER_READ_TIMEOUT_SECS): expected a duration above zero and at most 3600 seconds, or None"
        );
        assert_eq!(
            refused(|c| c.shutdown_timeout = Duration::from_secs(3601)),
            "invalid Config::shutdown_timeout 3601s (SHUTDOWN_TIMEOUT_SECS): expected a duration at most 3600 seconds"
        );
        assert!(
            refused(|c| c.jwt_expiry = Duration::from_secs(8785 * 3600))
                .starts_with("invalid Config::jwt_expiry 31626000s (JWT_EXPIRY_HOURS)")
        );
        assert!(
            refused(|c| c.database_acquire_timeout = Duration::ZERO)
                .starts_with("invalid Config::database_acquire_timeout 0ns")
        );
        assert!(
            refused(|c| c.request_timeout = Some(Duration::MAX))
                .starts_with("invalid Config::request_timeout")
        );
        assert!(
            refused(|c| c.database_idle_timeout = Some(Duration::from_secs(86401)))
                .starts_with("invalid Config::database_idle_timeout 86401s")
        );
    }

    #[test]
    fn validate_bounds_numbers_set_in_code() {
        assert_eq!(
            refused(|c| c.workers = 0),
            "invalid Config::workers 0 (SERVER_WORKERS): expected a number of worker threads from 1 to 1024"
        );
        assert_eq!(
            refused(|c| c.backlog = 70_000),
            "invalid Config::backlog 70000 (SERVER_BACKLOG): expected a queue length from 1 to 65535"
        );
        assert_eq!(
            refused(|c| c.max_connections = 0),
            "invalid Config::max_connections 0 (MAX_CONNECTIONS): expected a number of connections from 1 to 1000000"
        );
        assert_eq!(
            refused(|c| c.request_head_limit = 4096),
            "invalid Config::request_head_limit 4096 (REQUEST_HEAD_LIMIT): expected a size in bytes from 8192 to 1048576"
        );
        assert_eq!(
            refused(|c| c.database_max_connections = 0),
            "invalid Config::database_max_connections 0 (DATABASE_MAX_CONNECTIONS): expected a number of connections from 1 to 10000"
        );
    }

    #[test]
    fn validate_applies_the_environment_rules_to_code_built_configs() {
        for env in [Environment::Production, Environment::Test] {
            assert!(
                refused(|c| c.environment = env)
                    .starts_with(&format!("JWT_SECRET is required when ENVIRONMENT={env}")),
                "a generated secret is for development only"
            );
            assert_eq!(
                refused(|c| {
                    c.environment = env;
                    c.jwt_secret = JwtSecret::new("hunter2");
                }),
                format!(
                    "JWT_SECRET is 7 bytes long; at least 32 are required when ENVIRONMENT={env}"
                )
            );
            built(|c| {
                c.environment = env;
                c.jwt_secret = JwtSecret::new("s".repeat(32));
            })
            .validate()
            .unwrap();
        }
        built(|c| c.cors_origins = CorsOrigins::Any)
            .validate()
            .unwrap();
        assert_eq!(
            refused(|c| {
                c.cors_origins = CorsOrigins::Any;
                c.environment = Environment::Production;
                c.jwt_secret = JwtSecret::new("s".repeat(32));
            }),
            "invalid CORS_ALLOWED_ORIGINS \"*\": expected a list of origins: \"*\" is refused when ENVIRONMENT=production"
        );
    }

    #[test]
    fn validate_checks_syntax_set_in_code() {
        assert!(
            refused(|c| c.cors_origins =
                CorsOrigins::List(vec![HeaderValue::from_static("app.example.com")]))
            .starts_with("invalid CORS_ALLOWED_ORIGINS \"app.example.com\"")
        );
        assert!(
            refused(|c| c.host = "my host".to_owned())
                .starts_with("invalid SERVER_HOST \"my host\"")
        );
        assert!(refused(|c| c.log_filter = "info,[[[".to_owned()).starts_with("invalid RUST_LOG"));
    }

    /// A file of its own in the temp directory, removed on drop.
    struct TempFile(std::path::PathBuf);

    impl TempFile {
        fn new(contents: &str) -> Self {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "chopin-config-{}-{}.env",
                std::process::id(),
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ));
            std::fs::write(&path, contents).unwrap();
            Self(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn dot_env_is_read_into_a_map() {
        let file =
            TempFile::new("# comment\nCHOPIN_UNIT_ONLY_IN_FILE=from-file\nexport QUOTED=\"a b\"\n");
        let vars = dot_env(&file.0).unwrap();
        assert_eq!(vars["CHOPIN_UNIT_ONLY_IN_FILE"], "from-file");
        assert_eq!(vars["QUOTED"], "a b");
        assert!(std::env::var("CHOPIN_UNIT_ONLY_IN_FILE").is_err());
        assert!(dot_env(Path::new("/nonexistent/.env")).unwrap().is_empty());
        let malformed = TempFile::new("GOOD=1\nBAD LINE\n");
        let error = dot_env(&malformed.0).unwrap_err();
        assert!(error.is_config());
        assert!(
            error.to_string().starts_with("cannot read .env: "),
            "{error}"
        );
    }
}
