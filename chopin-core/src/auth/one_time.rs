//! Opaque tokens (refresh tokens and the single-use tokens mails carry): 256 random bits
//! given to the client once, stored only as their SHA-256. A leaked table holds nothing
//! that signs anyone in, and a fast hash is enough for random secrets that long.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};
use sqlx::{Any, Executor};

use crate::{api_error::ApiError, clock::unix_now};

/// A fresh token and its hash, the form it is stored and looked up in.
pub(crate) fn new_token() -> Result<(String, String), ApiError> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| {
        tracing::error!(%error, "no randomness for a token");
        ApiError::internal()
    })?;
    let token = hex(&bytes);
    let hash = hash(&token);
    Ok((token, hash))
}

/// What is stored for `token`. Anything a client sends is hashed, so a token of any
/// length or content is only ever a lookup that finds nothing.
pub(crate) fn hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// What a mailed token lets its holder do, once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    VerifyEmail,
    ResetPassword,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
        }
    }
}

/// Stores a new single-use token for `user_id`, valid `ttl_secs`; the token to mail.
pub(crate) async fn issue<'c>(
    executor: impl Executor<'c, Database = Any>,
    user_id: i64,
    purpose: Purpose,
    ttl_secs: u64,
) -> Result<String, ApiError> {
    let (token, hash) = new_token()?;
    sqlx::query(
        "INSERT INTO chopin_account_tokens (hash, user_id, purpose, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(hash)
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(expiry(ttl_secs))
    .execute(executor)
    .await?;
    Ok(token)
}

/// Uses `token` up: the user it was issued to, if it is unused, unexpired and for
/// `purpose`. One statement, so two requests racing with one token cannot both win.
pub(crate) async fn consume<'c>(
    executor: impl Executor<'c, Database = Any>,
    token: &str,
    purpose: Purpose,
) -> Result<Option<i64>, ApiError> {
    let now = to_i64(unix_now());
    let user_id = sqlx::query_scalar(
        "UPDATE chopin_account_tokens SET used_at = $1 \
         WHERE hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 \
         RETURNING user_id",
    )
    .bind(now)
    .bind(hash(token))
    .bind(purpose.as_str())
    .fetch_optional(executor)
    .await?;
    Ok(user_id)
}

/// Spends every unused token of `purpose` for `user_id`: after a reset, older reset
/// mails no longer work.
pub(crate) async fn spend_all<'c>(
    executor: impl Executor<'c, Database = Any>,
    user_id: i64,
    purpose: Purpose,
) -> Result<(), ApiError> {
    sqlx::query(
        "UPDATE chopin_account_tokens SET used_at = $1 \
         WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL",
    )
    .bind(to_i64(unix_now()))
    .bind(user_id)
    .bind(purpose.as_str())
    .execute(executor)
    .await?;
    Ok(())
}

/// Unix seconds `ttl_secs` from now, as stored.
pub(crate) fn expiry(ttl_secs: u64) -> i64 {
    to_i64(unix_now().saturating_add(ttl_secs))
}

/// Unix seconds fit an `i64` for the next 292 billion years.
pub(crate) fn to_i64(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (a, hash_a) = new_token().unwrap();
        let (b, _) = new_token().unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(hash(&a), hash_a);
        assert_ne!(hash_a, a);
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
