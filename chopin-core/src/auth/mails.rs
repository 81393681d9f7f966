//! The jobs that mail single-use tokens: a verification token at signup and on request,
//! a password-reset token on request. Each decides, after the response, whether an
//! account should get one.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    one_time::{self, Purpose},
    user,
};
use crate::{
    jobs::{Job, JobError},
    mail::Mail,
    state::AppState,
};

/// Mails a verification token to `email` if an active, unverified account has it.
#[derive(Serialize, Deserialize)]
pub struct VerificationMail {
    email: String,
}

impl VerificationMail {
    pub(crate) fn to(email: &str) -> Self {
        Self {
            email: email.to_owned(),
        }
    }
}

impl Job for VerificationMail {
    const NAME: &'static str = "chopin_verification_mail";
    const QUEUE: &'static str = "mail";

    async fn run(self, state: AppState) -> Result<(), JobError> {
        let ttl = state.auth_settings().email_verification_ttl;
        let hours = ttl.as_secs().div_ceil(3600);
        mail_token(&state, &self.email, Purpose::VerifyEmail, ttl, |token| {
            Mail::new(
                &self.email,
                "Verify your email address",
                format!(
                    "Welcome! To verify this email address, send this token to \
                     POST /api/auth/verify as {{\"token\": \"{token}\"}}:\n\n{token}\n\n\
                     It works once, for {hours} hours. If you did not sign up, ignore this mail."
                ),
            )
        })
        .await
    }
}

/// Mails a password-reset token to `email` if an active account has it.
#[derive(Serialize, Deserialize)]
pub struct ResetMail {
    email: String,
}

impl ResetMail {
    pub(crate) fn to(email: &str) -> Self {
        Self {
            email: email.to_owned(),
        }
    }
}

impl Job for ResetMail {
    const NAME: &'static str = "chopin_password_reset_mail";
    const QUEUE: &'static str = "mail";

    async fn run(self, state: AppState) -> Result<(), JobError> {
        let ttl = state.auth_settings().password_reset_ttl;
        let minutes = ttl.as_secs().div_ceil(60);
        mail_token(&state, &self.email, Purpose::ResetPassword, ttl, |token| {
            Mail::new(
                &self.email,
                "Reset your password",
                format!(
                    "Someone asked to reset the password of the account with this email \
                     address. To choose a new one, send this token with it to \
                     POST /api/auth/password/reset as \
                     {{\"token\": \"{token}\", \"password\": \"…\"}}:\n\n{token}\n\n\
                     It works once, for {minutes} minutes. If it was not you, ignore this \
                     mail: your password stays as it is."
                ),
            )
        })
        .await
    }
}

/// Issues a token for the account with `email` and stores its mail in one transaction;
/// nothing if no active account (for verification: no unverified one) has the address.
async fn mail_token(
    state: &AppState,
    email: &str,
    purpose: Purpose,
    ttl: Duration,
    mail: impl FnOnce(&str) -> Mail,
) -> Result<(), JobError> {
    let Some(account) = user::by_email(state.db(), email).await? else {
        return Ok(());
    };
    let wanted =
        account.active && (purpose != Purpose::VerifyEmail || !account.user.email_verified);
    if !wanted {
        return Ok(());
    }
    let mut tx = state.db().begin().await?;
    let token = one_time::issue(&mut *tx, account.user.id, purpose, ttl.as_secs()).await?;
    state.mailer().send(mail(&token)).on(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}
