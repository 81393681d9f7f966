//! Mail: messages built in code and sent by a job, so a mail is retried while the SMTP
//! server is down and never lost on a restart. Without `SMTP_URL` (development, tests)
//! mails are written to the log, and to `MAIL_DIR` if it is set.

pub(crate) mod message;

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[cfg(feature = "cli")]
pub(crate) use self::message::check_smtp;
pub use self::message::{Mail, Mailer, Template};
use crate::{
    jobs::{Enqueue, Job, JobError},
    state::AppState,
};

impl Mailer {
    /// Stores `mail` to be sent by a worker: await the returned [`Enqueue`] (after `.on(&mut
    /// tx)` to send it only if your transaction commits). A failed send is retried with
    /// backoff, 25 times over about 14 hours, then kept as a dead job.
    pub fn send(&self, mail: Mail) -> Enqueue<'_, SendMail> {
        self.jobs.enqueue(SendMail { mail })
    }
}

/// The job that sends one mail: what [`Mailer::send`] enqueues. Every app registers it.
#[derive(Serialize, Deserialize)]
pub struct SendMail {
    mail: Mail,
}

impl Job for SendMail {
    const NAME: &'static str = "chopin_send_mail";
    const QUEUE: &'static str = "mail";
    const MAX_ATTEMPTS: u32 = 25;
    const TIMEOUT: Duration = Duration::from_secs(60);

    async fn run(self, state: AppState) -> Result<(), JobError> {
        state.mailer().deliver(&self.mail).await
    }
}
