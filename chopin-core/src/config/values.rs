//! The setting types of their own: the named choices, the JWT secret, the CORS origins,
//! the trusted proxies, and the rules of the settings that are text.

use std::{fmt, net::IpAddr, str::FromStr, sync::Arc};

use http::HeaderValue;
use ipnet::IpNet;

use super::{
    rules::{Named, ONE_OF, Rule, Setting, text},
    vars,
};
use crate::error::Error;

/// An enum named by the words of its variable, with `FromStr` saying what is allowed.
macro_rules! named {
    ($(#[$meta:meta])* $name:ident by $var:ident {
        $($(#[$variant_meta:meta])* $variant:ident = $word:literal,)+
    }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl Named for $name {
            const NAMES: &'static [(&'static str, Self)] = &[$(($word, Self::$variant)),+];
        }

        impl $name {
            #[doc = concat!("The name used in `", stringify!($var), "`.")]
            pub fn as_str(self) -> &'static str {
                self.name()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;

            #[doc = concat!("Errors name `", stringify!($var), "` and the words it takes.")]
            fn from_str(s: &str) -> Result<Self, Error> {
                Self::read(vars::$var, s, &ONE_OF)
            }
        }
    };
}

named! {
    /// Which server runs the application.
    ServerMode by SERVER_MODE {
        /// `axum::serve` on one listener and a multi-threaded runtime.
        #[default]
        Standard = "standard",
        /// One thread, runtime and `SO_REUSEPORT` listener per core, fast routes first.
        Performance = "performance",
    }
}

named! {
    /// Where the application runs; decides which insecure conveniences are allowed.
    Environment by ENVIRONMENT {
        /// Local work: a missing `JWT_SECRET` is replaced by a random one, with a warning.
        #[default]
        Development = "development",
        /// Deployed: secrets are required and wide-open CORS is refused.
        Production = "production",
        /// Automated tests: strict like production.
        Test = "test",
    }
}

named! {
    /// Log line format.
    LogFormat by LOG_FORMAT {
        /// Human-readable lines.
        #[default]
        Text = "text",
        /// One JSON object per line, for log collectors.
        Json = "json",
    }
}

/// Shortest `JWT_SECRET` accepted outside development, in bytes.
pub(crate) const JWT_SECRET_MIN_LEN: usize = 32;

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
        let mut bytes = vec![0; JWT_SECRET_MIN_LEN];
        getrandom::fill(&mut bytes).map_err(Error::random)?;
        Ok(Self {
            bytes,
            generated: true,
        })
    }

    /// None configured yet: [`JwtSecret::or_random`] draws one when the app starts.
    pub(super) const fn unset() -> Self {
        Self {
            bytes: Vec::new(),
            generated: true,
        }
    }

    /// This secret, or a random one if none was configured.
    pub(crate) fn or_random(self) -> Result<Self, Error> {
        if self.generated && self.bytes.is_empty() {
            return Self::random();
        }
        Ok(self)
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

pub(super) const HOST: Rule = text(
    "a host name or IP address, e.g. 127.0.0.1, 0.0.0.0 or localhost",
    |host| !host.trim().is_empty() && !host.contains(char::is_whitespace),
);

pub(super) const LOG_FILTER: Rule = text(
    "tracing filter directives such as \"info\" or \"warn,my_app=debug\"",
    |filter| tracing_subscriber::EnvFilter::try_new(filter).is_ok(),
);

/// Any text: the environment's rule is checked with the others that join two settings.
pub(super) const SECRET: Rule = text("at least 32 bytes outside development", |_| true);

impl Setting for JwtSecret {
    fn read(_: &'static str, text: &str, _: &Rule) -> Result<Self, Error> {
        Ok(Self::new(text))
    }
}

/// `scheme://host[:port]`, as a browser sends it in `Origin`.
pub(super) const ORIGINS: Rule = text(
    "comma-separated origins like https://app.example.com, or \"*\"",
    |origin| {
        let (scheme, rest) = origin.split_once("://").unwrap_or(("", origin));
        matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains(['/', '*', ' '])
    },
);

impl Setting for CorsOrigins {
    fn read(var: &'static str, text: &str, rule: &Rule) -> Result<Self, Error> {
        if text.trim() == "*" {
            return Ok(Self::Any);
        }
        let origins = text.split(',').map(str::trim).filter(|o| !o.is_empty());
        let origins = origins.map(|origin| match HeaderValue::from_str(origin) {
            Ok(value) if (rule.valid)(origin) => Ok(value),
            _ => Err(Error::invalid(var, text, Self::expected(rule))),
        });
        let origins = origins.collect::<Result<Vec<_>, _>>()?;
        Ok(if origins.is_empty() {
            Self::None
        } else {
            Self::List(origins)
        })
    }

    fn check(&self, var: &'static str, _: &'static str, rule: &Rule) -> Result<(), Error> {
        let Self::List(origins) = self else {
            return Ok(());
        };
        origins.iter().try_for_each(|origin| match origin.to_str() {
            Ok(text) if (rule.valid)(text) => Ok(()),
            _ => {
                let text = String::from_utf8_lossy(origin.as_bytes());
                Err(Error::invalid(var, &text, Self::expected(rule)))
            }
        })
    }
}

/// The reverse proxies whose forwarding headers (`X-Forwarded-For`, `Forwarded`) are
/// believed: [`crate::ClientIp`] reads the client's address from them only for a request
/// whose peer is one of these. Restrictive by default: none, so a client cannot name
/// its own address.
///
/// ```
/// use chopin_core::TrustedProxies;
///
/// let proxies: TrustedProxies = "10.0.0.0/8, 192.168.1.7, fd00::/8".parse()?;
/// assert!(proxies.contains("10.1.2.3".parse().unwrap()));
/// assert!(!proxies.contains("203.0.113.9".parse().unwrap()));
/// assert!(TrustedProxies::default().is_empty());
/// # Ok::<(), chopin_core::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    // Shared: the middleware stack hands a clone to every request when it is not empty.
    nets: Arc<[IpNet]>,
}

impl TrustedProxies {
    /// Whether `ip` is one of the proxies; an IPv4 address mapped into IPv6
    /// (`::ffff:10.0.0.1`, as a dual-stack listener reports it) counts as its IPv4 self.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// Whether no proxy is trusted (the default): forwarding headers are ignored.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

pub(super) const PROXIES: Rule = text(
    "comma-separated IP addresses or CIDR ranges like 10.0.0.0/8,::1",
    |_| true,
);

impl Setting for TrustedProxies {
    fn read(var: &'static str, text: &str, rule: &Rule) -> Result<Self, Error> {
        let entries = text.split(',').map(str::trim).filter(|e| !e.is_empty());
        let nets = entries.map(
            |entry| match (entry.parse::<IpNet>(), entry.parse::<IpAddr>()) {
                (Ok(net), _) => Ok(net.trunc()),
                (_, Ok(ip)) => Ok(IpNet::from(ip.to_canonical())),
                _ => Err(Error::invalid(var, text, Self::expected(rule))),
            },
        );
        Ok(Self {
            nets: nets.collect::<Result<_, _>>()?,
        })
    }
}

impl FromStr for TrustedProxies {
    type Err = Error;

    /// Errors name `TRUSTED_PROXIES` and what it takes.
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::read(vars::TRUSTED_PROXIES, s, &PROXIES)
    }
}

/// `SMTP_URL`: the SMTP server mail goes through. `Debug` and `Display` mask its
/// password; unset (the default), mail is written to the log.
///
/// ```
/// use chopin_core::SmtpUrl;
///
/// let url = SmtpUrl::new("smtps://app:s3cret@mail.example.com:465")?;
/// assert_eq!(url.to_string(), "smtps://app:***@mail.example.com:465");
/// assert!(url.is_set() && !SmtpUrl::default().is_set());
/// # Ok::<(), chopin_core::Error>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SmtpUrl {
    url: Option<String>,
}

pub(super) const SMTP: Rule = text(
    "smtp://user:pass@host:587?tls=required (STARTTLS), smtps://user:pass@host:465 (TLS) or smtp://host:25 (no TLS)",
    |url| url.starts_with("smtp://") || url.starts_with("smtps://"),
);

impl SmtpUrl {
    /// Parses `url`: `smtp://` (with `?tls=required` for STARTTLS) or `smtps://`.
    ///
    /// # Errors
    ///
    /// Any other URL, or any URL in a build without the `smtp` feature; the message
    /// names `SMTP_URL` and shows the URL masked.
    pub fn new(url: &str) -> Result<Self, Error> {
        let refused = |expected: &str| {
            let masked = super::database_url::masked(url);
            Err(Error::invalid(vars::SMTP_URL, &masked, expected.to_owned()))
        };
        if !(SMTP.valid)(url) {
            return refused(&Self::expected(&SMTP));
        }
        #[cfg(feature = "smtp")]
        if lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url).is_err() {
            return refused(&Self::expected(&SMTP));
        }
        #[cfg(not(feature = "smtp"))]
        return refused("nothing: this build of chopin-core has no `smtp` feature");
        #[cfg(feature = "smtp")]
        Ok(Self {
            url: Some(url.to_owned()),
        })
    }

    /// Whether a server is set (otherwise mail goes to the log).
    pub fn is_set(&self) -> bool {
        self.url.is_some()
    }

    /// The URL as given, password included: for connecting, never for a log.
    pub fn expose_secret(&self) -> Option<&str> {
        self.url.as_deref()
    }
}

impl Setting for SmtpUrl {
    fn read(_: &'static str, text: &str, _: &Rule) -> Result<Self, Error> {
        match text.trim() {
            "" => Ok(Self::default()),
            url => Self::new(url),
        }
    }
}

impl fmt::Display for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.url {
            Some(url) => f.write_str(&super::database_url::masked(url)),
            None => f.write_str("unset"),
        }
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SmtpUrl({self})")
    }
}

/// An address such as `Example <noreply@example.com>`.
pub(super) const MAILBOX: Rule = text(
    "an address such as noreply@example.com or \"Example <noreply@example.com>\"",
    |address| address.parse::<lettre::message::Mailbox>().is_ok(),
);

pub(super) const PATH: Rule = text("a directory path", |_| true);
