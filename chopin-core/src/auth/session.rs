//! Sessions: one per sign-in, the family of its rotating refresh tokens (RFC 9700
//! §4.14.2). A refresh token is used once; presenting a used one again means two
//! parties hold it, so its whole session is revoked. Access tokens name their session,
//! and [`super::AuthUser`] loads the user only through a live one: a revocation takes
//! effect at once on every instance sharing the database.

use sqlx::Row;

use super::one_time::{self, expiry, to_i64};
use crate::{api_error::ApiError, clock::unix_now, state::AppState};

/// What a sign-in or a refresh hands out.
pub(crate) struct Pair {
    pub(crate) access_token: String,
    pub(crate) refresh_token: String,
}

/// Opens a session for `user_id` and issues its first pair.
pub(crate) async fn start(state: &AppState, user_id: i64) -> Result<Pair, ApiError> {
    let config = state.auth_settings();
    let session_id: i64 = sqlx::query_scalar(
        "INSERT INTO chopin_sessions (user_id, created_at, expires_at) \
         VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(user_id)
    .bind(crate::clock::now_rfc3339())
    .bind(expiry(config.refresh_token_ttl.as_secs()))
    .fetch_one(state.db())
    .await?;
    let refresh_token = store_refresh(state, session_id, state.db()).await?;
    Ok(Pair {
        access_token: state.tokens().issue(user_id, session_id)?,
        refresh_token,
    })
}

async fn store_refresh<'c>(
    state: &AppState,
    session_id: i64,
    executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
) -> Result<String, ApiError> {
    let (token, hash) = one_time::new_token()?;
    sqlx::query(
        "INSERT INTO chopin_refresh_tokens (hash, session_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(hash)
    .bind(session_id)
    .bind(expiry(state.auth_settings().refresh_token_ttl.as_secs()))
    .execute(executor)
    .await?;
    Ok(token)
}

/// Trades `refresh_token` for a new pair in the same session: the user it is for.
pub(crate) async fn rotate(state: &AppState, refresh_token: &str) -> Result<(i64, Pair), ApiError> {
    let hash = one_time::hash(refresh_token);
    let now = to_i64(unix_now());
    let mut tx = state.db().begin().await?;
    // Marking it used is the claim: of two requests with one token, one updates the row.
    let claimed: Option<i64> = sqlx::query_scalar(
        "UPDATE chopin_refresh_tokens SET used_at = $1 \
         WHERE hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING session_id",
    )
    .bind(now)
    .bind(&hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(session_id) = claimed else {
        tx.rollback().await?;
        return Err(refused(state, &hash).await);
    };
    let user_id: Option<i64> = sqlx::query_scalar(
        "UPDATE chopin_sessions SET expires_at = $1 \
         WHERE id = $2 AND revoked_at IS NULL RETURNING user_id",
    )
    .bind(expiry(state.auth_settings().refresh_token_ttl.as_secs()))
    .bind(session_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(user_id) = user_id else {
        tx.rollback().await?;
        return Err(ended());
    };
    let refresh_token = store_refresh(state, session_id, &mut *tx).await?;
    tx.commit().await?;
    let access_token = state.tokens().issue(user_id, session_id)?;
    Ok((
        user_id,
        Pair {
            access_token,
            refresh_token,
        },
    ))
}

/// Why a refresh token that could not be claimed is refused; a reused one revokes its
/// session first.
async fn refused(state: &AppState, hash: &str) -> ApiError {
    let found =
        sqlx::query("SELECT session_id, used_at FROM chopin_refresh_tokens WHERE hash = $1")
            .bind(hash)
            .fetch_optional(state.db())
            .await;
    let row = match found {
        Ok(Some(row)) => row,
        Ok(None) => return ApiError::unauthorized("the refresh token is invalid"),
        Err(error) => return error.into(),
    };
    let used = row.try_get::<Option<i64>, _>("used_at").ok().flatten();
    let session_id = row.try_get::<i64, _>("session_id");
    match (used, session_id) {
        (Some(_), Ok(session_id)) => {
            if let Err(error) = revoke(state, session_id).await {
                return error;
            }
            tracing::warn!(
                session_id,
                "a used refresh token was presented again: session revoked"
            );
            ApiError::unauthorized(
                "this refresh token was already used, so its session has been signed out: sign in again",
            )
        }
        _ => ApiError::unauthorized("the refresh token has expired: sign in again"),
    }
}

pub(crate) fn ended() -> ApiError {
    ApiError::unauthorized("the session has been signed out: sign in again")
}

/// Signs one session out: its refresh tokens and access tokens stop working.
pub(crate) async fn revoke(state: &AppState, session_id: i64) -> Result<(), ApiError> {
    sqlx::query("UPDATE chopin_sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(to_i64(unix_now()))
        .bind(session_id)
        .execute(state.db())
        .await?;
    Ok(())
}

/// Signs every session of `user_id` out.
pub(crate) async fn revoke_all<'c>(
    executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
    user_id: i64,
) -> Result<(), ApiError> {
    sqlx::query(
        "UPDATE chopin_sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    )
    .bind(to_i64(unix_now()))
    .bind(user_id)
    .execute(executor)
    .await?;
    Ok(())
}
