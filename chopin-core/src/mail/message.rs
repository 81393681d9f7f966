//! Mail: messages built in code and sent by a job, so a mail is retried while the SMTP
//! server is down and never lost on a restart. Without `SMTP_URL` (development, tests)
//! mails are written to the log, and to `MAIL_DIR` as `.eml` files if it is set.

use std::{path::PathBuf, sync::Arc};

use lettre::{
    Message,
    message::{Mailbox, MultiPart, header::ContentType},
};
use serde::{Deserialize, Serialize};

use crate::{
    config::Config,
    jobs::queue::{JobError, Jobs},
};

/// One mail: its recipient, subject, plain-text body and, optionally, an HTML body (sent
/// as the alternative to the text).
///
/// ```
/// use chopin_core::mail::Mail;
///
/// let mail = Mail::new("ada@example.com", "Welcome", "Hello, Ada!")
///     .html("<p>Hello, <b>Ada</b>!</p>");
/// # let _ = mail;
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Mail {
    to: String,
    subject: String,
    text: String,
    html: Option<String>,
}

impl Mail {
    /// A plain-text mail to `to` (`ada@example.com` or `Ada <ada@example.com>`).
    pub fn new(to: impl Into<String>, subject: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            to: to.into(),
            subject: subject.into(),
            text: text.into(),
            html: None,
        }
    }

    /// The mail `template` renders, to `to`.
    pub fn from_template(to: impl Into<String>, template: &impl Template) -> Self {
        let mail = Self::new(to, template.subject(), template.text());
        Self {
            html: template.html(),
            ..mail
        }
    }

    /// Adds an HTML body, shown by clients that can; the text body stays for the others.
    pub fn html(mut self, html: impl Into<String>) -> Self {
        self.html = Some(html.into());
        self
    }

    /// The recipient.
    pub fn to(&self) -> &str {
        &self.to
    }

    /// The subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The MIME message, from `from`.
    fn message(&self, from: &str) -> Result<Message, JobError> {
        let from: Mailbox = from.parse()?;
        let to: Mailbox = self.to.parse()?;
        let message = Message::builder().from(from).to(to).subject(&self.subject);
        let message = match &self.html {
            Some(html) => message.multipart(MultiPart::alternative_plain_html(
                self.text.clone(),
                html.clone(),
            ))?,
            None => message
                .header(ContentType::TEXT_PLAIN)
                .body(self.text.clone())?,
        };
        Ok(message)
    }
}

/// A kind of mail, written in code: a type holding what the mail says, rendering its
/// subject, text and (optionally) HTML, e.g. with `format!`.
///
/// ```
/// use chopin_core::mail::{Mail, Template};
///
/// struct Welcome<'a> {
///     name: &'a str,
/// }
///
/// impl Template for Welcome<'_> {
///     fn subject(&self) -> String {
///         format!("Welcome, {}", self.name)
///     }
///
///     fn text(&self) -> String {
///         format!("Hello {}, your account is ready.", self.name)
///     }
/// }
///
/// let mail = Mail::from_template("ada@example.com", &Welcome { name: "Ada" });
/// assert_eq!(mail.subject(), "Welcome, Ada");
/// ```
pub trait Template {
    /// The subject line.
    fn subject(&self) -> String;
    /// The plain-text body.
    fn text(&self) -> String;
    /// The HTML body, if any.
    fn html(&self) -> Option<String> {
        None
    }
}

/// Sends mail through the job queue: from `AppState::mailer`.
#[derive(Clone)]
pub struct Mailer {
    pub(super) jobs: Jobs,
    inner: Arc<Inner>,
}

struct Inner {
    from: String,
    transport: Transport,
}

enum Transport {
    /// No `SMTP_URL`: the log, and `MAIL_DIR` if set.
    Log(Option<PathBuf>),
    #[cfg(feature = "smtp")]
    Smtp(lettre::AsyncSmtpTransport<lettre::Tokio1Executor>),
    /// An `SMTP_URL` lettre refuses: every send fails with why.
    #[cfg(feature = "smtp")]
    Broken(String),
}

impl Transport {
    fn new(config: &Config) -> Self {
        let dir = (!config.mail_dir.is_empty()).then(|| PathBuf::from(&config.mail_dir));
        match config.smtp_url.expose_secret() {
            // `SmtpUrl::new` has checked the URL (and refuses any without this feature).
            #[cfg(feature = "smtp")]
            Some(url) => {
                match lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url) {
                    Ok(builder) => Self::Smtp(builder.build()),
                    Err(e) => Self::Broken(e.to_string()),
                }
            }
            _ => Self::Log(dir),
        }
    }

    /// Whether the server of `SMTP_URL` answers within ten seconds; `None` without one.
    async fn check(config: &Config) -> Option<Result<(), String>> {
        match Self::new(config) {
            Self::Log(_) => None,
            #[cfg(feature = "smtp")]
            Self::Smtp(transport) => {
                let check = transport.test_connection();
                Some(
                    match tokio::time::timeout(std::time::Duration::from_secs(10), check).await {
                        Ok(Ok(true)) => Ok(()),
                        Ok(Ok(false)) => Err("the server did not answer NOOP".to_owned()),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err("no answer within 10 s".to_owned()),
                    },
                )
            }
            #[cfg(feature = "smtp")]
            Self::Broken(why) => Some(Err(why)),
        }
    }
}

/// Whether the server of `SMTP_URL` answers within ten seconds; `None` without one.
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
pub(crate) async fn check_smtp(config: &Config) -> Option<Result<(), String>> {
    Transport::check(config).await
}

impl Mailer {
    pub(crate) fn new(jobs: Jobs, config: &Config) -> Self {
        let transport = Transport::new(config);
        let from = config.mail_from.clone();
        Self {
            jobs,
            inner: Arc::new(Inner { from, transport }),
        }
    }

    /// Sends `mail` now, without the queue: what the mail job does.
    ///
    /// # Errors
    ///
    /// A malformed address, or the SMTP server refused or could not be reached.
    pub async fn deliver(&self, mail: &Mail) -> Result<(), JobError> {
        let message = mail.message(&self.inner.from)?;
        match &self.inner.transport {
            Transport::Log(dir) => {
                let (to, subject) = (&mail.to, &mail.subject);
                tracing::info!(to, subject, "mail not sent (no SMTP_URL):\n{}", mail.text);
                if let Some(dir) = dir {
                    let name = format!(
                        "{}.eml",
                        crate::clock::unix_millis(std::time::SystemTime::now())
                    );
                    tokio::fs::create_dir_all(dir).await?;
                    tokio::fs::write(unique_path(dir, &name), message.formatted()).await?;
                }
                Ok(())
            }
            #[cfg(feature = "smtp")]
            Transport::Smtp(transport) => {
                use lettre::AsyncTransport;
                transport.send(message).await?;
                Ok(())
            }
            #[cfg(feature = "smtp")]
            Transport::Broken(why) => Err(format!("SMTP_URL cannot be used: {why}").into()),
        }
    }
}

/// `dir/name`, or with a counter before the extension if that file exists.
fn unique_path(dir: &std::path::Path, name: &str) -> PathBuf {
    let stem = name.trim_end_matches(".eml");
    (0..)
        .map(|n| match n {
            0 => dir.join(name),
            n => dir.join(format!("{stem}-{n}.eml")),
        })
        .find(|path| !path.exists())
        .unwrap_or_else(|| dir.join(name))
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let transport = match self.inner.transport {
            Transport::Log(_) => "log",
            #[cfg(feature = "smtp")]
            Transport::Smtp(_) => "smtp",
            #[cfg(feature = "smtp")]
            Transport::Broken(_) => "broken",
        };
        f.debug_struct("Mailer")
            .field("from", &self.inner.from)
            .field("transport", &transport)
            .finish_non_exhaustive()
    }
}
