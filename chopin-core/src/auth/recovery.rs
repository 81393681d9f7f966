//! Password change and reset, and email verification: the routes (the jobs that mail
//! their tokens are in `mails`).
//!
//! The routes that take only an email address (`password/forgot`, `verify/resend`) store
//! one job whatever the address, and answer `202` alike: whether an account exists is
//! decided by the job, after the response, so neither the answer nor its timing tells.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    extract::SignedIn,
    handlers::{TokenResponse, check_email, check_password, token_response},
    mails::{ResetMail, VerificationMail},
    one_time::{self, Purpose},
    password, session, user,
};
use crate::{api_error::ApiError, state::AppState};

/// The answer to a request that may mail a token.
#[derive(Serialize, ToSchema)]
pub(crate) struct Accepted {
    #[schema(example = "if an account has this email address, a mail is on its way")]
    message: &'static str,
}

fn accepted() -> (StatusCode, Json<Accepted>) {
    let message = "if an account has this email address, a mail is on its way";
    (StatusCode::ACCEPTED, Json(Accepted { message }))
}

/// An email address to mail a token to.
#[derive(Deserialize, ToSchema)]
pub(crate) struct EmailRequest {
    #[schema(
        max_length = 254,
        pattern = r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$",
        example = "ada@example.com"
    )]
    email: String,
}

impl EmailRequest {
    /// The address, lower-cased as stored; `422` if no account could have it.
    fn address(&self) -> Result<String, ApiError> {
        let email = self.email.trim().to_lowercase();
        check_email(&email).map_err(|message| ApiError::validation([("email", message)]))?;
        Ok(email)
    }
}

/// The current password and a new one.
#[derive(Deserialize, ToSchema)]
pub(crate) struct PasswordChange {
    #[schema(example = "correct horse battery")]
    current_password: String,
    #[schema(
        min_length = 8,
        max_length = 256,
        example = "a new horse battery staple"
    )]
    new_password: String,
}

/// A mailed reset token and the new password.
#[derive(Deserialize, ToSchema)]
pub(crate) struct PasswordReset {
    #[schema(example = "9b1e…")]
    token: String,
    #[schema(
        min_length = 8,
        max_length = 256,
        example = "a new horse battery staple"
    )]
    password: String,
}

/// A mailed verification token.
#[derive(Deserialize, ToSchema)]
pub(crate) struct Verification {
    #[schema(example = "4c0d…")]
    token: String,
}

/// `403 invalid_token`: a mailed token that cannot be used (not `401`, which would ask for
/// a bearer token).
fn invalid_token(message: &'static str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "invalid_token", message)
}

fn invalid_password(field: &'static str, password: &str) -> Result<(), ApiError> {
    check_password(password).map_err(|message| ApiError::validation([(field, message)]))
}

#[utoipa::path(
    post,
    path = "/api/auth/password",
    tag = "auth",
    summary = "Change the password",
    description = "Signs every session of the account out and answers with a new one for \
                   this client.",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 200, description = "Password changed; a new session", body = TokenResponse),
        (status = 400, description = "Malformed JSON", body = ApiError),
        (status = 401, description = "Missing, invalid or expired token, or a signed-out session", body = ApiError),
        (status = 403, description = "The current password is wrong", body = ApiError),
        (status = 413, description = "Body over the size limit", body = ApiError),
        (status = 415, description = "Not `application/json`", body = ApiError),
        (status = 422, description = "Missing fields, or a new password that breaks the rules", body = ApiError),
        (status = 429, description = "Too many requests from this address (`Retry-After`)", body = ApiError),
        (status = 503, description = "Database unavailable, or the request timed out (`Retry-After`)", body = ApiError),
    )
)]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Json(request): Json<PasswordChange>,
) -> Result<Json<TokenResponse>, ApiError> {
    invalid_password("new_password", &request.new_password)?;
    let user_id = signed_in.user.id;
    let current = user::by_id(state.db(), user_id)
        .await?
        .map(|account| account.password_hash);
    if !password::verify(request.current_password, current).await? {
        return Err(ApiError::forbidden("the current password is wrong"));
    }
    let hash = password::hash(request.new_password).await?;
    let mut tx = state.db().begin().await?;
    user::set_password(&mut *tx, user_id, &hash).await?;
    session::revoke_all(&mut *tx, user_id).await?;
    tx.commit().await?;
    tracing::info!(user_id, "password changed: every session signed out");
    let pair = session::start(&state, user_id).await?;
    Ok(Json(token_response(&state, pair, signed_in.user)))
}

#[utoipa::path(
    post,
    path = "/api/auth/password/forgot",
    tag = "auth",
    summary = "Mail a password-reset token",
    description = "Answers the same for every address; an account with this address is mailed \
                   a single-use token valid `PASSWORD_RESET_SECS`.",
    request_body = EmailRequest,
    responses(
        (status = 202, description = "A mail is sent if an account has the address", body = Accepted),
        (status = 400, description = "Malformed JSON", body = ApiError),
        (status = 413, description = "Body over the size limit", body = ApiError),
        (status = 415, description = "Not `application/json`", body = ApiError),
        (status = 422, description = "Missing or malformed email address", body = ApiError),
        (status = 429, description = "Too many requests from this address (`Retry-After`)", body = ApiError),
        (status = 503, description = "Database unavailable, or the request timed out (`Retry-After`)", body = ApiError),
    )
)]
pub(crate) async fn forgot_password(
    State(state): State<AppState>,
    Json(request): Json<EmailRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let email = request.address()?;
    state.jobs().enqueue(ResetMail::to(&email)).await?;
    Ok(accepted())
}

#[utoipa::path(
    post,
    path = "/api/auth/password/reset",
    tag = "auth",
    summary = "Set a new password with a mailed token",
    description = "The token works once. Every session of the account is signed out; sign in \
                   with the new password.",
    request_body = PasswordReset,
    responses(
        (status = 204, description = "Password set"),
        (status = 400, description = "Malformed JSON", body = ApiError),
        (status = 403, description = "`invalid_token`: the token is invalid, used or expired", body = ApiError),
        (status = 413, description = "Body over the size limit", body = ApiError),
        (status = 415, description = "Not `application/json`", body = ApiError),
        (status = 422, description = "Missing fields, or a password that breaks the rules", body = ApiError),
        (status = 429, description = "Too many requests from this address (`Retry-After`)", body = ApiError),
        (status = 503, description = "Database unavailable, or the request timed out (`Retry-After`)", body = ApiError),
    )
)]
pub(crate) async fn reset_password(
    State(state): State<AppState>,
    Json(request): Json<PasswordReset>,
) -> Result<StatusCode, ApiError> {
    invalid_password("password", &request.password)?;
    let hash = password::hash(request.password).await?;
    let mut tx = state.db().begin().await?;
    let Some(user_id) = one_time::consume(&mut *tx, &request.token, Purpose::ResetPassword).await?
    else {
        return Err(invalid_token(
            "the reset token is invalid, used or expired: ask for another at POST /api/auth/password/forgot",
        ));
    };
    user::set_password(&mut *tx, user_id, &hash).await?;
    session::revoke_all(&mut *tx, user_id).await?;
    one_time::spend_all(&mut *tx, user_id, Purpose::ResetPassword).await?;
    // The mail reached its owner: the address is theirs.
    user::mark_verified(&mut *tx, user_id).await?;
    tx.commit().await?;
    tracing::info!(user_id, "password reset: every session signed out");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/api/auth/verify",
    tag = "auth",
    summary = "Verify an email address with a mailed token",
    request_body = Verification,
    responses(
        (status = 204, description = "The address is verified"),
        (status = 400, description = "Malformed JSON", body = ApiError),
        (status = 403, description = "`invalid_token`: the token is invalid, used or expired", body = ApiError),
        (status = 413, description = "Body over the size limit", body = ApiError),
        (status = 415, description = "Not `application/json`", body = ApiError),
        (status = 422, description = "Missing fields", body = ApiError),
        (status = 429, description = "Too many requests from this address (`Retry-After`)", body = ApiError),
        (status = 503, description = "Database unavailable, or the request timed out (`Retry-After`)", body = ApiError),
    )
)]
pub(crate) async fn verify_email(
    State(state): State<AppState>,
    Json(request): Json<Verification>,
) -> Result<StatusCode, ApiError> {
    let mut tx = state.db().begin().await?;
    let Some(user_id) = one_time::consume(&mut *tx, &request.token, Purpose::VerifyEmail).await?
    else {
        return Err(invalid_token(
            "the verification token is invalid, used or expired: ask for another at POST /api/auth/verify/resend",
        ));
    };
    user::mark_verified(&mut *tx, user_id).await?;
    tx.commit().await?;
    tracing::info!(user_id, "email address verified");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/api/auth/verify/resend",
    tag = "auth",
    summary = "Mail another verification token",
    description = "Answers the same for every address; an unverified account with this address \
                   is mailed a new token valid `EMAIL_VERIFICATION_HOURS`.",
    request_body = EmailRequest,
    responses(
        (status = 202, description = "A mail is sent if an unverified account has the address", body = Accepted),
        (status = 400, description = "Malformed JSON", body = ApiError),
        (status = 413, description = "Body over the size limit", body = ApiError),
        (status = 415, description = "Not `application/json`", body = ApiError),
        (status = 422, description = "Missing or malformed email address", body = ApiError),
        (status = 429, description = "Too many requests from this address (`Retry-After`)", body = ApiError),
        (status = 503, description = "Database unavailable, or the request timed out (`Retry-After`)", body = ApiError),
    )
)]
pub(crate) async fn resend_verification(
    State(state): State<AppState>,
    Json(request): Json<EmailRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let email = request.address()?;
    state.jobs().enqueue(VerificationMail::to(&email)).await?;
    Ok(accepted())
}
