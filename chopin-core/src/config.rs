//! Configuration from environment variables, `.env` files, or code.
//!
//! Every setting is one row of the table below: its field, type, variable, rule
//! (range, unit, what `0` means), default and doc. Parsing, checking, defaults, error
//! messages, [`vars`] and the tables of `docs/configuration.md` all come from it. A
//! battery adds its settings as a group of rows.

mod database_url;
mod rules;
mod values;

use std::{collections::HashMap, path::Path, time::Duration};

pub(crate) use self::database_url::Backend;
pub(crate) use self::values::JWT_SECRET_MIN_LEN;
use self::{
    database_url::DATABASE_URL,
    rules::{ONE_OF, Setting, count, hours, seconds},
    values::{HOST, LOG_FILTER, MAILBOX, ORIGINS, PATH, PROXIES, SECRET, SMTP},
};
pub use self::{
    database_url::DatabaseUrl,
    values::{CorsOrigins, Environment, JwtSecret, LogFormat, ServerMode, SmtpUrl, TrustedProxies},
};
use crate::error::Error;

/// Declares the settings: [`vars`], [`Config`] and its `Default`, parsing and checks.
macro_rules! settings {
    ($(
        $(#[doc = $group_doc:literal])+
        $group:ident {
            $(
                $(#[doc = $doc:literal])+
                $field:ident: $ty:ty = $var:ident, $rule:expr, default $default:expr
                    $(, shown $shown:literal)?;
            )+
        }
    )+) => {
        /// Names of the environment variables Chopin reads.
        pub mod vars {
            $($(
                $(#[doc = $doc])+
                pub const $var: &str = stringify!($var);
            )+)+
        }

        /// Everything Chopin needs to start: one field per variable of
        /// `docs/configuration.md`, where each one's default and range are listed.
        ///
        /// Build it from the environment with [`Config::from_env`], from explicit pairs
        /// with [`Config::from_vars`] (no process environment touched), or start from
        /// [`Config::default`] and set fields; [`Config::validate`] applies the
        /// variables' rules to the fields, and [`crate::App::with_config`] calls it.
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
            $($(
                #[doc = concat!("`", stringify!($var), "`: ")]
                $(#[doc = $doc])+
                pub $field: $ty,
            )+)+
        }

        /// The defaults of `docs/configuration.md`. No JWT secret is drawn yet: in
        /// development [`crate::App::with_config`] draws a random one.
        impl Default for Config {
            fn default() -> Self {
                Self { $($($field: $default,)+)+ }
            }
        }

        impl Config {
            fn parse_each(get: &Get<'_>) -> Result<Self, Error> {
                Ok(Self {$($(
                    $field: match get(vars::$var)? {
                        Some(text) => <$ty as Setting>::read(vars::$var, &text, &$rule)?,
                        None => $default,
                    },
                )+)+})
            }

            fn check_each(&self) -> Result<(), Error> {
                $($(Setting::check(&self.$field, vars::$var, stringify!($field), &$rule)?;)+)+
                Ok(())
            }
        }

        /// Each group's heading and setting rows: variable, default, allowed values, doc.
        #[cfg(test)]
        fn table() -> Vec<(&'static str, Vec<[String; 4]>)> {
            vec![$((
                concat!($($group_doc, "\n"),+),
                vec![$([
                    stringify!($var).to_owned(),
                    settings!(@shown $ty, $rule, $default $(, $shown)?),
                    <$ty as Setting>::expected(&$rule),
                    concat!($($doc, "\n"),+).to_owned(),
                ]),+],
            )),+]
        }
    };
    (@shown $ty:ty, $rule:expr, $default:expr, $shown:literal) => { $shown.to_owned() };
    (@shown $ty:ty, $rule:expr, $default:expr) => { <$ty as Setting>::show(&$default, &$rule) };
}

settings! {
    /// Server
    ///
    /// Where and how the server runs, and how it stops.
    Server {
        /// `development`, `production` or `test`: `production` and `test` require
        /// `JWT_SECRET` and refuse `CORS_ALLOWED_ORIGINS=*`.
        environment: Environment = ENVIRONMENT, ONE_OF, default Environment::Development;
        /// `standard` or `performance`, case-insensitive.
        mode: ServerMode = SERVER_MODE, ONE_OF, default ServerMode::Standard;
        /// Host name or IP address to listen on: `0.0.0.0` for every interface; names
        /// like `localhost` are resolved.
        host: String = SERVER_HOST, HOST, default "127.0.0.1".to_owned();
        /// TCP port to listen on; `0` picks a free port (the bound address is logged and
        /// available from `Server::local_addr`).
        port: u16 = SERVER_PORT, count("a port number", 0, 65535).note("0 picks a free port"),
            default 3000;
        /// Performance mode: worker threads, one runtime and `SO_REUSEPORT` listener each.
        workers: usize = SERVER_WORKERS, count("a number of worker threads", 1, 1024),
            default std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            shown "the number of cores";
        /// Performance mode: pending connections queued per listener before the kernel
        /// refuses more.
        backlog: u32 = SERVER_BACKLOG, count("a queue length", 1, 65535), default 1024;
        /// Both modes: `on` answers fast routes and most router requests from
        /// Chopin's own HTTP/1 loop, which hands the rest (upgrades, chunked or unread
        /// bodies, HTTP/1.0) to hyper; `off` serves everything through hyper (same answers,
        /// for comparison).
        fast_lane: bool = FAST_LANE, ONE_OF, default true;
        /// After SIGTERM, how long the server keeps accepting and serving while `/readyz`
        /// answers `503` (if anything has asked `/readyz`), so that a load balancer
        /// polling it moves on before the listener closes; then, for up to as long again,
        /// answers carry `Connection: close` and idle keep-alive connections are left to
        /// their clients, so a pooling proxy never sends on one being closed
        /// ([deployment.md](deployment.md#stopping-an-instance)). SIGINT (Ctrl-C) and a
        /// second signal skip both; `0` disables.
        shutdown_delay: Duration = SHUTDOWN_DELAY_SECS,
            seconds(3600, "0 drains at once"), default Duration::from_secs(5);
        /// From the moment the listener closes (at SIGINT; at SIGTERM or after
        /// `SHUTDOWN_DELAY_SECS`), how long connections may take to finish their
        /// requests; `0` closes them at once.
        shutdown_timeout: Duration = SHUTDOWN_TIMEOUT_SECS,
            seconds(3600, "0 closes connections at once"),
            default Duration::from_secs(10);
    }

    /// Connections and requests
    ///
    /// The limits every connection and request is held to, the same in both modes.
    Limits {
        /// Connections served at once per process; when full, no more are accepted until
        /// one closes (they wait in the listen backlog).
        max_connections: usize = MAX_CONNECTIONS, count("a number of connections", 1, 1_000_000),
            default 10_000;
        /// Largest request head (request line and headers); a larger one gets `431`. 8192
        /// is the smallest hyper reads.
        request_head_limit: usize = REQUEST_HEAD_LIMIT, count("a size in bytes", 8192, 1 << 20),
            default 32 * 1024;
        /// A client must send each request head within this time (slowloris), and an
        /// HTTP/1 keep-alive connection waiting for its next request is closed after this
        /// long idle; `0` disables both.
        header_read_timeout: Option<Duration> = HEADER_READ_TIMEOUT_SECS,
            seconds(3600, "0 disables"), default Some(Duration::from_secs(10));
        /// A response write that makes no progress this long (a client that stopped
        /// reading) closes the connection; `0` disables.
        write_timeout: Option<Duration> = WRITE_TIMEOUT_SECS,
            seconds(3600, "0 disables"), default Some(Duration::from_secs(30));
        /// Largest request body; a larger one gets `413`. It can be raised, not disabled.
        body_limit: usize = REQUEST_BODY_LIMIT, count("a size in bytes", 1, 1 << 34),
            default 2 * 1024 * 1024;
        /// A request whose handler takes longer gets `503` with `Retry-After`; `0` disables.
        request_timeout: Option<Duration> = REQUEST_TIMEOUT_SECS,
            seconds(86400, "0 disables"), default Some(Duration::from_secs(30));
        /// Origins browsers may call from, e.g. `https://app.example.com,http://localhost:5173`;
        /// `*` allows any origin without credentials and is refused in production.
        cors_origins: CorsOrigins = CORS_ALLOWED_ORIGINS, ORIGINS, default CorsOrigins::None,
            shown "unset: no CORS headers";
        /// The reverse proxies in front of the app, e.g. `10.0.0.0/8,::1`: only a request
        /// whose peer is one of them has its client address (rate limits, `ClientIp`)
        /// read from `X-Forwarded-For` or `Forwarded`; unset, those headers are ignored.
        trusted_proxies: TrustedProxies = TRUSTED_PROXIES, PROXIES,
            default TrustedProxies::default(), shown "unset: no proxy is trusted";
    }

    /// Database
    ///
    /// The pool every request and battery shares.
    Database {
        /// `sqlite:PATH` (created if missing, WAL), `sqlite::memory:` or
        /// `postgres://user:pass@host:port/db`. Passwords are masked wherever it is printed
        /// (`DatabaseUrl::expose_secret` gives the raw URL).
        database_url: DatabaseUrl = DATABASE_URL, DATABASE_URL,
            default DatabaseUrl::sqlite_file("./app.db");
        /// Most connections the pool opens; an in-memory SQLite database always gets one.
        database_max_connections: u32 = DATABASE_MAX_CONNECTIONS,
            count("a number of connections", 1, 10_000), default 10;
        /// How long a request waits for a connection before it gets `503`.
        database_acquire_timeout: Duration = DATABASE_ACQUIRE_TIMEOUT_SECS,
            seconds(3600, ""), default Duration::from_secs(5);
        /// How long an unused pooled connection stays open; `0` keeps it.
        database_idle_timeout: Option<Duration> = DATABASE_IDLE_TIMEOUT_SECS,
            seconds(86400, "0 keeps idle connections"),
            default Some(Duration::from_secs(600));
    }

    /// Accounts
    ///
    /// Tokens, mailed links and limits of the `/api/auth` routes ([security.md](security.md)).
    Auth {
        /// HS256 signing secret, required outside development; in development an unset
        /// secret is replaced by a random one with a warning (tokens die with the process).
        jwt_secret: JwtSecret = JWT_SECRET, SECRET, default JwtSecret::unset(),
            shown "random per process in development";
        /// Lifetime of an access token (`expires_in`); a revoked session's tokens are
        /// refused before it ends.
        access_token_ttl: Duration = ACCESS_TOKEN_SECS, seconds(86400, ""),
            default Duration::from_secs(15 * 60);
        /// Lifetime of a refresh token; each refresh hands out a new one with a new lifetime.
        refresh_token_ttl: Duration = REFRESH_TOKEN_HOURS, hours(24 * 366),
            default Duration::from_secs(30 * 24 * 3600);
        /// Lifetime of the single-use token a password-reset mail carries.
        password_reset_ttl: Duration = PASSWORD_RESET_SECS, seconds(7 * 86400, ""),
            default Duration::from_secs(3600);
        /// Lifetime of the single-use token an email-verification mail carries.
        email_verification_ttl: Duration = EMAIL_VERIFICATION_HOURS, hours(24 * 30),
            default Duration::from_secs(48 * 3600);
        /// `on`: an account signs in only once its email address is verified (signup
        /// then answers `202` without tokens).
        require_verified_email: bool = REQUIRE_VERIFIED_EMAIL, ONE_OF, default false;
        /// Requests one client address may make per minute to each route that takes a
        /// credential or sends mail; more get `429` with `Retry-After`.
        auth_rate_limit: u32 = AUTH_RATE_LIMIT_PER_MINUTE,
            count("a number of requests", 1, 1_000_000), default 10;
        /// Failed logins for one email from one client address before that address must
        /// wait `LOGIN_LOCKOUT_SECS` between further attempts.
        login_max_failures: u32 = LOGIN_MAX_FAILURES, count("a number of attempts", 1, 1000),
            default 5;
        /// The wait after `LOGIN_MAX_FAILURES` failed logins, and after each further one.
        login_lockout: Duration = LOGIN_LOCKOUT_SECS, seconds(86400, ""),
            default Duration::from_secs(15 * 60);
    }

    /// Jobs
    ///
    /// The workers that run background jobs ([jobs.md](jobs.md)).
    Jobs {
        /// Jobs this process runs at once, in both modes; `0` runs none here (another
        /// process sharing the database runs them).
        jobs_workers: usize = JOBS_WORKERS, count("a number of jobs", 0, 1024).note("0 runs none"),
            default 4;
        /// `on`: this process runs jobs and serves no HTTP, so that web and workers scale
        /// apart (the same binary, started twice).
        jobs_only: bool = JOBS_ONLY, ONE_OF, default false;
    }

    /// Mail
    ///
    /// Where mail goes ([mail.md](mail.md)).
    Mail {
        /// The SMTP server: `smtp://user:pass@host:587?tls=required` (STARTTLS),
        /// `smtps://user:pass@host:465` (TLS), or `smtp://host:25` for a relay without TLS.
        /// Unset, mail is written to the log; required when `ENVIRONMENT=production`.
        smtp_url: SmtpUrl = SMTP_URL, SMTP, default SmtpUrl::default(),
            shown "unset: mail is logged";
        /// The sender of every mail, e.g. `Example <noreply@example.com>`.
        mail_from: String = MAIL_FROM, MAILBOX, default "Chopin <noreply@localhost>".to_owned();
        /// Without `SMTP_URL`: a directory that also gets each mail as an `.eml` file
        /// (created if missing).
        mail_dir: String = MAIL_DIR, PATH, default String::new(), shown "unset";
    }

    /// Logging
    ///
    /// What is logged to stderr, and how.
    Logging {
        /// `text` or `json` lines.
        log_format: LogFormat = LOG_FORMAT, ONE_OF, default LogFormat::Text;
        /// tracing filter directives, e.g. `info,chopin_core=debug`; requests are logged
        /// at `debug`.
        log_filter: String = RUST_LOG, LOG_FILTER, default "info".to_owned();
    }
}

impl Config {
    /// Reads the process environment and the environment files in the working directory:
    /// `.env`, then `.env.{ENVIRONMENT}`, then `.env.local`, each file winning over the
    /// ones before it and the process environment over them all (`ENVIRONMENT` itself is
    /// read from the process, `.env.local` and `.env`). Files are read, never loaded: the
    /// process environment is not changed.
    ///
    /// # Errors
    ///
    /// A malformed file, or any variable with a malformed value: the error names the
    /// file or the variable, the value (never a secret's) and what is allowed.
    pub fn from_env() -> Result<Self, Error> {
        let process = |name: &'static str| match std::env::var(name) {
            Ok(value) => Ok(Some(value)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::not_unicode(name)),
        };
        let files = env_files(Path::new("."), &process)?;
        Self::parse(&|name| Ok(process(name)?.or_else(|| files.get(name).cloned())))
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
    /// config.environment = Environment::Production; // with no JWT secret set
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
        self.check_each()?;
        // The rules that join two settings.
        let environment = self.environment;
        let (min, len) = (JWT_SECRET_MIN_LEN, self.jwt_secret.as_bytes().len());
        if environment != Environment::Development {
            if self.jwt_secret.is_generated() {
                return Err(Error::rule(format!(
                    "JWT_SECRET is required when ENVIRONMENT={environment}: set it to a random string of at least {min} bytes (e.g. `openssl rand -base64 48`)"
                )));
            }
            if len < min {
                return Err(Error::rule(format!(
                    "JWT_SECRET is {len} bytes long; at least {min} are required when ENVIRONMENT={environment}"
                )));
            }
        }
        if self.jobs_only && self.jobs_workers == 0 {
            return Err(Error::invalid(
                vars::JOBS_WORKERS,
                "0",
                "a number of jobs from 1 to 1024 when JOBS_ONLY=on",
            ));
        }
        if environment == Environment::Production && self.cors_origins == CorsOrigins::Any {
            return Err(Error::invalid(
                vars::CORS_ALLOWED_ORIGINS,
                "*",
                "a list of origins: \"*\" is refused when ENVIRONMENT=production",
            ));
        }
        if environment == Environment::Production && !self.smtp_url.is_set() {
            return Err(Error::rule(
                "SMTP_URL is required when ENVIRONMENT=production: without it mail is only \
                 logged (e.g. smtps://user:pass@mail.example.com:465)"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    /// What a valid configuration should still be told about at startup.
    pub(crate) fn warning(&self) -> Option<String> {
        let secret = &self.jwt_secret;
        if secret.is_generated() {
            Some(
                "JWT_SECRET is not set: using a random secret for this process only; tokens \
                 will not survive a restart. Set JWT_SECRET before deploying."
                    .to_owned(),
            )
        } else if secret.as_bytes().len() < JWT_SECRET_MIN_LEN {
            Some(format!(
                "JWT_SECRET is shorter than {JWT_SECRET_MIN_LEN} bytes: fine for development, \
                 refused when ENVIRONMENT=production"
            ))
        } else {
            None
        }
    }

    fn parse(get: &Get<'_>) -> Result<Self, Error> {
        // Silently ignoring it would turn a configured lifetime into the default.
        if get("JWT_EXPIRY_HOURS")?.is_some() {
            return Err(Error::rule(
                "JWT_EXPIRY_HOURS is no longer read: access tokens live ACCESS_TOKEN_SECS (default 900) and are renewed with refresh tokens that live REFRESH_TOKEN_HOURS (default 720)"
                    .to_owned(),
            ));
        }
        let mut config = Self::parse_each(get)?;
        config.validate()?;
        config.jwt_secret = config.jwt_secret.or_random()?;
        Ok(config)
    }
}

/// Looks a variable up: `Ok(None)` when it is not set.
type Get<'a> = dyn Fn(&'static str) -> Result<Option<String>, Error> + 'a;

/// The variables of the environment files in `dir`: `.env`, `.env.{ENVIRONMENT}` and
/// `.env.local`, later ones winning. `ENVIRONMENT` is the process's (`process`), else
/// `.env.local`'s, else `.env`'s.
fn env_files(dir: &Path, process: &Get<'_>) -> Result<HashMap<String, String>, Error> {
    let mut vars = dot_env(dir, ".env")?;
    let local = dot_env(dir, ".env.local")?;
    let named = process(vars::ENVIRONMENT)?
        .or_else(|| local.get(vars::ENVIRONMENT).cloned())
        .or_else(|| vars.get(vars::ENVIRONMENT).cloned());
    let environment = match named {
        Some(text) => text.parse()?,
        None => Environment::default(),
    };
    vars.extend(dot_env(dir, &format!(".env.{environment}"))?);
    vars.extend(local);
    // The file chosen by it cannot name another.
    vars.insert(
        vars::ENVIRONMENT.to_owned(),
        environment.as_str().to_owned(),
    );
    Ok(vars)
}

/// The variables of the file `name` in `dir`, or none if there is no such file.
fn dot_env(dir: &Path, name: &str) -> Result<HashMap<String, String>, Error> {
    let lines = match dotenvy::from_path_iter(dir.join(name)) {
        Ok(lines) => lines,
        Err(e) if e.not_found() => return Ok(HashMap::new()),
        Err(e) => return Err(Error::dotenv(name, e)),
    };
    lines
        .map(|line| line.map_err(|e| Error::dotenv(name, e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

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
        assert_eq!(c.shutdown_delay, Duration::from_secs(5));
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
    fn token_lifetimes() {
        let c = ok(&[]);
        assert_eq!(c.access_token_ttl, Duration::from_secs(900));
        assert_eq!(c.refresh_token_ttl, Duration::from_secs(30 * 24 * 3600));
        assert_eq!(
            ok(&[("REFRESH_TOKEN_HOURS", "2")]).refresh_token_ttl,
            Duration::from_secs(7200)
        );
        for bad in ["0", "-1", "1.5", "9000"] {
            assert!(
                err(&[("REFRESH_TOKEN_HOURS", bad)]).starts_with("invalid REFRESH_TOKEN_HOURS"),
                "{bad}"
            );
        }
        assert!(
            err(&[("JWT_EXPIRY_HOURS", "24")]).starts_with("JWT_EXPIRY_HOURS is no longer read"),
        );
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
            let smtp = ("SMTP_URL", "smtp://127.0.0.1:25");
            let c = ok(&[("ENVIRONMENT", env), ("JWT_SECRET", &secret), smtp]);
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
        for bad in ["2MB", "0", "17179869185"] {
            assert_eq!(
                err(&[("REQUEST_BODY_LIMIT", bad)]),
                format!(
                    "invalid REQUEST_BODY_LIMIT \"{bad}\": expected a size in bytes from 1 to 17179869184"
                )
            );
        }
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
    fn trusted_proxies() {
        assert!(ok(&[]).trusted_proxies.is_empty());
        let c = ok(&[("TRUSTED_PROXIES", " 10.0.0.0/8, 192.168.1.7 ,fd00::/8,")]);
        for trusted in ["10.1.2.3", "192.168.1.7", "fd00::1", "::ffff:10.0.0.1"] {
            assert!(
                c.trusted_proxies.contains(trusted.parse().unwrap()),
                "{trusted}"
            );
        }
        for untrusted in ["192.168.1.8", "11.0.0.1", "::1"] {
            assert!(
                !c.trusted_proxies.contains(untrusted.parse().unwrap()),
                "{untrusted}"
            );
        }
        assert!(ok(&[("TRUSTED_PROXIES", "")]).trusted_proxies.is_empty());
        for bad in ["10.0.0.0/33", "proxy.internal", "10.0.0.1 10.0.0.2"] {
            assert!(
                err(&[("TRUSTED_PROXIES", bad)]).starts_with(&format!(
                    "invalid TRUSTED_PROXIES \"{bad}\": expected comma-separated IP addresses"
                )),
                "{bad}"
            );
        }
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
    const BOUNDED: [(&str, u64, &str); 9] = [
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
            "REFRESH_TOKEN_HOURS",
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
            "SHUTDOWN_DELAY_SECS",
            3600,
            "a whole number of seconds from 0 to 3600 (0 drains at once)",
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
            ("REFRESH_TOKEN_HOURS", "8784"),
        ]);
        let now = std::time::Instant::now();
        for d in [
            c.header_read_timeout.unwrap(),
            c.request_timeout.unwrap(),
            c.refresh_token_ttl,
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
    fn the_default_database_url_is_the_parsed_one() {
        assert!(Config::default().database_url == DatabaseUrl::new("sqlite:./app.db").unwrap());
    }

    #[test]
    fn default_draws_no_secret_and_validates() {
        let config = Config::default();
        assert!(config.jwt_secret.is_generated());
        assert!(config.jwt_secret.as_bytes().is_empty());
        config.validate().unwrap();
        assert_eq!(config.jwt_secret.or_random().unwrap().as_bytes().len(), 32);
    }

    #[test]
    fn production_needs_an_smtp_url_which_is_printed_masked() {
        let secret = "s".repeat(32);
        let production = [("ENVIRONMENT", "production"), ("JWT_SECRET", &secret)];
        assert_eq!(
            err(&production),
            "SMTP_URL is required when ENVIRONMENT=production: without it mail is only logged (e.g. smtps://user:pass@mail.example.com:465)"
        );
        let test = ok(&[("ENVIRONMENT", "test"), ("JWT_SECRET", &secret)]);
        assert!(!test.smtp_url.is_set(), "only production requires it");
        let url = "smtp://app:hunter2@mail.example.com:587?tls=required";
        let c = ok(&[("SMTP_URL", url)]);
        assert_eq!(c.smtp_url.expose_secret(), Some(url));
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(format!("{c:?}").contains("smtp://app:***@mail.example.com:587?tls=required"));
        assert_eq!(
            err(&[("SMTP_URL", "http://app:hunter2@mail.example.com")]),
            "invalid SMTP_URL \"http://app:***@mail.example.com\": expected smtp://user:pass@host:587?tls=required (STARTTLS), smtps://user:pass@host:465 (TLS) or smtp://host:25 (no TLS)"
        );
        assert!(err(&[("SMTP_URL", "smtp://host:25?tls=maybe")]).starts_with("invalid SMTP_URL"));
        assert!(!ok(&[("SMTP_URL", "")]).smtp_url.is_set());
        assert_eq!(
            err(&[("MAIL_FROM", "not an address")]),
            "invalid MAIL_FROM \"not an address\": expected an address such as noreply@example.com or \"Example <noreply@example.com>\""
        );
        assert_eq!(
            ok(&[("MAIL_FROM", "Shop <shop@example.com>")]).mail_from,
            "Shop <shop@example.com>"
        );
    }

    #[test]
    fn a_jobs_only_process_needs_workers() {
        assert_eq!(
            err(&[("JOBS_ONLY", "on"), ("JOBS_WORKERS", "0")]),
            "invalid JOBS_WORKERS \"0\": expected a number of jobs from 1 to 1024 when JOBS_ONLY=on"
        );
        let c = ok(&[("JOBS_ONLY", "on"), ("JOBS_WORKERS", "2")]);
        assert!(c.jobs_only);
        assert_eq!((c.jobs_workers, Config::default().jobs_workers), (2, 4));
        assert_eq!(ok(&[("JOBS_WORKERS", "0")]).jobs_workers, 0);
    }

    #[test]
    fn every_number_has_a_bound() {
        let numbers = table().into_iter().flat_map(|(_, rows)| rows);
        let numbers: Vec<_> = numbers
            .filter(|[_, _, allowed, _]| allowed.contains(" from "))
            .collect();
        assert!(numbers.len() >= 14, "{numbers:?}");
        for [var, ..] in numbers {
            for too_large in ["18446744073709551615", "18446744073709551616"] {
                let error = err(&[(&var, too_large)]);
                assert!(error.starts_with(&format!("invalid {var} ")), "{error}");
            }
        }
    }

    #[test]
    fn from_str_says_what_is_allowed() {
        assert_eq!(
            "fast".parse::<ServerMode>().unwrap_err().to_string(),
            "invalid SERVER_MODE \"fast\": expected \"standard\" or \"performance\""
        );
        assert_eq!("JSON".parse::<LogFormat>().unwrap(), LogFormat::Json);
        assert!(
            "prod"
                .parse::<Environment>()
                .unwrap_err()
                .to_string()
                .ends_with("expected \"development\", \"production\" or \"test\"")
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
            ("SMTP_URL", "smtps://app:pass@mail.example.com"),
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
            refused(|c| c.refresh_token_ttl = Duration::from_secs(8785 * 3600))
                .starts_with("invalid Config::refresh_token_ttl 31626000s (REFRESH_TOKEN_HOURS)")
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
                c.smtp_url = SmtpUrl::new("smtp://127.0.0.1:25").unwrap();
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

    /// A directory of its own in the temp directory, removed on drop.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn with(files: &[(&str, &str)]) -> Self {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "chopin-config-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path).unwrap();
            for (name, contents) in files {
                std::fs::write(path.join(name), contents).unwrap();
            }
            Self(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn dot_env_is_read_into_a_map() {
        let dir = TempDir::with(&[
            (
                ".env",
                "# comment\nCHOPIN_UNIT_ONLY_IN_FILE=from-file\nexport QUOTED=\"a b\"\n",
            ),
            (".env.bad", "GOOD=1\nBAD LINE\n"),
        ]);
        let vars = dot_env(&dir.0, ".env").unwrap();
        assert_eq!(vars["CHOPIN_UNIT_ONLY_IN_FILE"], "from-file");
        assert_eq!(vars["QUOTED"], "a b");
        assert!(std::env::var("CHOPIN_UNIT_ONLY_IN_FILE").is_err());
        assert!(dot_env(&dir.0, ".env.missing").unwrap().is_empty());
        let error = dot_env(&dir.0, ".env.bad").unwrap_err();
        assert!(error.is_config());
        assert!(
            error.to_string().starts_with("cannot read .env.bad: "),
            "{error}"
        );
    }

    /// `env_files` in `dir` with `process` as the process environment.
    fn files(dir: &TempDir, process: &[(&str, &str)]) -> Result<HashMap<String, String>, Error> {
        let process: HashMap<&str, &str> = process.iter().copied().collect();
        env_files(&dir.0, &|name| {
            Ok(process.get(name).map(|v| (*v).to_owned()))
        })
    }

    #[test]
    fn environment_files_win_in_order_local_then_environment_then_env() {
        let dir = TempDir::with(&[
            (".env", "ENVIRONMENT=test\nA=env\nB=env\nC=env\nD=env\n"),
            (
                ".env.test",
                "B=test\nC=test\nD=test\nENVIRONMENT=production\n",
            ),
            (".env.production", "B=production\n"),
            (".env.local", "C=local\n"),
        ]);
        let vars = files(&dir, &[]).unwrap();
        let value = |name: &str| vars.get(name).map(String::as_str);
        assert_eq!(
            [value("A"), value("B"), value("C"), value("ENVIRONMENT")],
            [Some("env"), Some("test"), Some("local"), Some("test")],
            "a .env.{{ENVIRONMENT}} file cannot change ENVIRONMENT"
        );
        // The process's ENVIRONMENT chooses the file, then `.env.local` and `.env`'s.
        let vars = files(&dir, &[("ENVIRONMENT", "Production")]).unwrap();
        assert_eq!(vars["B"], "production");
        assert_eq!(vars["D"], "env");
        let local = TempDir::with(&[
            (".env", "ENVIRONMENT=test\n"),
            (".env.local", "ENVIRONMENT=production\n"),
            (".env.production", "B=production\n"),
        ]);
        assert_eq!(files(&local, &[]).unwrap()["B"], "production");
        assert_eq!(
            files(&dir, &[("ENVIRONMENT", "staging")])
                .unwrap_err()
                .to_string(),
            "invalid ENVIRONMENT \"staging\": expected \"development\", \"production\" or \"test\""
        );
        assert!(!files(&TempDir::with(&[]), &[]).unwrap().contains_key("A"));
    }

    /// docs/configuration.md's tables, as the settings table renders them.
    fn rendered() -> String {
        let line = |doc: &str| doc.lines().map(str::trim).collect::<Vec<_>>().join(" ");
        let mut out = String::new();
        for (group, rows) in table() {
            let (title, intro) = group.split_once("\n\n").unwrap_or((group, ""));
            out += &format!("### {}\n\n{}\n\n", title.trim(), line(intro).trim());
            out += "| variable | default | allowed | notes |\n|---|---|---|---|\n";
            for [var, default, allowed, doc] in rows {
                let default = if default.contains(' ') {
                    default
                } else {
                    format!("`{default}`")
                };
                out += &format!(
                    "| `{var}` | {default} | {allowed} | {} |\n",
                    line(&doc).trim()
                );
            }
            out += "\n";
        }
        out
    }

    #[test]
    fn docs_configuration_md_lists_every_setting_as_the_table_says() {
        const START: &str = "<!-- settings: generated from chopin-core/src/config.rs -->\n\n";
        const END: &str = "<!-- /settings -->";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let (before, rest) = doc.split_once(START).expect("the start marker");
        let (listed, after) = rest.split_once(END).expect("the end marker");
        let expected = rendered();
        if listed != expected {
            if std::env::var_os("UPDATE_DOCS").is_some() {
                std::fs::write(path, format!("{before}{START}{expected}{END}{after}")).unwrap();
            }
            panic!(
                "docs/configuration.md does not list the settings as the table in config.rs \
                 does; `UPDATE_DOCS=1 cargo test -p chopin-core --lib config` rewrites it"
            );
        }
    }
}
