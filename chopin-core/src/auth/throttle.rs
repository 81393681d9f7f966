//! Failed logins, counted per email address and client address in the database (so
//! every instance sees the same count). After `LOGIN_MAX_FAILURES` failures in a row
//! the pair waits `LOGIN_LOCKOUT_SECS` before its next attempt, and each further failure
//! starts the wait again: about one guess per lockout for that pair.
//!
//! The key is the pair, never the account alone: an attacker elsewhere can slow only
//! their own attempts, not lock the owner out. The key is the email as typed, known or
//! not, so a lockout says nothing about which accounts exist.

use std::time::Duration;

use super::one_time::to_i64;
use crate::{api_error::ApiError, clock::unix_now, state::AppState};

/// Failures older than this start the count again.
const FORGET_AFTER_SECS: i64 = 24 * 3600;

/// `429` with the wait if `email` from `client` is waiting out a lockout.
pub(crate) async fn check(state: &AppState, email: &str, client: &str) -> Result<(), ApiError> {
    let locked_until: Option<i64> = sqlx::query_scalar(
        "SELECT locked_until FROM chopin_login_failures WHERE email = $1 AND client = $2",
    )
    .bind(email)
    .bind(client)
    .fetch_optional(state.db())
    .await?;
    let now = to_i64(unix_now());
    match locked_until {
        Some(until) if until > now => Err(ApiError::too_many_requests(Duration::from_secs(
            u64::try_from(until - now).unwrap_or(1),
        ))),
        _ => Ok(()),
    }
}

/// Counts a failure; past the limit, the pair waits.
pub(crate) async fn failed(state: &AppState, email: &str, client: &str) -> Result<(), ApiError> {
    let settings = state.auth_settings();
    let now = to_i64(unix_now());
    let failures: i64 = sqlx::query_scalar(
        "INSERT INTO chopin_login_failures (email, client, failures, last_failure, locked_until) \
         VALUES ($1, $2, 1, $3, 0) \
         ON CONFLICT (email, client) DO UPDATE SET \
         failures = CASE WHEN chopin_login_failures.last_failure < $4 THEN 1 \
                    ELSE chopin_login_failures.failures + 1 END, \
         last_failure = $3 \
         RETURNING failures",
    )
    .bind(email)
    .bind(client)
    .bind(now)
    .bind(now - FORGET_AFTER_SECS)
    .fetch_one(state.db())
    .await?;
    if failures >= i64::from(settings.login_max_failures) {
        let until = now.saturating_add(to_i64(settings.login_lockout.as_secs()));
        sqlx::query(
            "UPDATE chopin_login_failures SET locked_until = $1 WHERE email = $2 AND client = $3",
        )
        .bind(until)
        .bind(email)
        .bind(client)
        .execute(state.db())
        .await?;
        tracing::warn!(
            failures,
            "failed logins for one email from one address: waiting"
        );
    }
    Ok(())
}

/// A successful login forgets the pair's failures.
pub(crate) async fn succeeded(state: &AppState, email: &str, client: &str) -> Result<(), ApiError> {
    sqlx::query("DELETE FROM chopin_login_failures WHERE email = $1 AND client = $2")
        .bind(email)
        .bind(client)
        .execute(state.db())
        .await?;
    Ok(())
}
