//! The `/api/auth` handlers and the rules for what they accept.

use std::borrow::Cow;

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AuthUser, extract::SignedIn, mails, password, session, throttle, user};
use crate::{api_error::ApiError, client_ip::ClientIp, state::AppState};

// The rules below are also the request schema in the OpenAPI document: keep both in step
// (the contract test sends schema-valid and schema-invalid bodies).
const PASSWORD_MIN_CHARS: usize = 8;
/// Hashing cost grows with length; nobody types more.
const PASSWORD_MAX_CHARS: usize = 256;
/// 256 characters of at most 4 bytes: longer is never a valid password, and is not
/// hashed on login.
const PASSWORD_MAX_BYTES: usize = 4 * PASSWORD_MAX_CHARS;
const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 3..=32;
const EMAIL_MAX_BYTES: usize = 254;
const EMAIL_LOCAL_MAX_BYTES: usize = 64;

/// A new account.
#[derive(Deserialize, ToSchema)]
pub(crate) struct SignupRequest {
    /// Stored lower-cased; unique.
    #[schema(
        max_length = 254,
        pattern = r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$",
        example = "ada@example.com"
    )]
    email: String,
    /// Unique regardless of case.
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9_-]{2,31}$", example = "ada")]
    username: String,
    #[schema(min_length = 8, max_length = 256, example = "correct horse battery")]
    password: String,
}

/// Credentials.
#[derive(Deserialize, ToSchema)]
pub(crate) struct LoginRequest {
    #[schema(example = "ada@example.com")]
    email: String,
    #[schema(example = "correct horse battery")]
    password: String,
}

/// A signed-in session: a short-lived access token, the refresh token that renews it,
/// and whom they are for.
#[derive(Serialize, ToSchema)]
pub(crate) struct TokenResponse {
    /// Send it as `Authorization: Bearer <access_token>`.
    access_token: String,
    #[schema(pattern = "^Bearer$", example = "Bearer")]
    token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(minimum = 0, example = 900)]
    expires_in: u64,
    /// Trade it at `POST /api/auth/refresh` for a new pair; it works once.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    refresh_token: String,
    user: user::User,
}

pub(super) fn token_response(
    state: &AppState,
    pair: session::Pair,
    user: user::User,
) -> TokenResponse {
    TokenResponse {
        access_token: pair.access_token,
        token_type: "Bearer",
        expires_in: state.tokens().expires_in(),
        refresh_token: pair.refresh_token,
        user,
    }
}

/// An account that must verify its email address before it signs in.
#[derive(Serialize, ToSchema)]
pub(crate) struct PendingResponse {
    #[schema(example = "check your mail to verify your email address, then sign in")]
    message: &'static str,
    user: user::User,
}

/// Starts a session for a user who just proved who they are.
async fn signed_in(state: &AppState, user: user::User) -> Result<TokenResponse, ApiError> {
    let pair = session::start(state, user.id).await?;
    Ok(token_response(state, pair, user))
}

#[utoipa::path(
    post,
    path = "/api/auth/signup",
    tag = "auth",
    summary = "Create an account",
    description = "Mails a verification token to the address. Signs the account in, unless \
                   `REQUIRE_VERIFIED_EMAIL` is on: then it answers `202` and the account signs \
                   in once verified.",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Account created and signed in", body = TokenResponse),
        (status = 202, description = "Account created; verify the email address to sign in", body = PendingResponse),
        (status = 400, description = "Malformed JSON", body = ApiError),
        (status = 409, description = "Email or username taken", body = ApiError),
        (status = 413, description = "Body over the size limit", body = ApiError),
        (status = 415, description = "Not `application/json`", body = ApiError),
        (status = 422, description = "Missing or invalid fields", body = ApiError),
        (status = 429, description = "Too many requests from this address (`Retry-After`)", body = ApiError),
        (status = 503, description = "Database unavailable, or the request timed out (`Retry-After`)", body = ApiError),
    )
)]
pub(crate) async fn signup(
    State(state): State<AppState>,
    Json(request): Json<SignupRequest>,
) -> Result<Response, ApiError> {
    let new = Candidate {
        email: &request.email,
        username: &request.username,
        role: user::Role::User,
        email_verified: false,
    };
    let user = create(&state, new, request.password).await?;
    tracing::info!(user_id = user.id, "user signed up");
    if state.auth_settings().require_verified_email {
        let message = "check your mail to verify your email address, then sign in";
        return Ok((
            StatusCode::ACCEPTED,
            Json(PendingResponse { message, user }),
        )
            .into_response());
    }
    let response = signed_in(&state, user).await?;
    Ok((StatusCode::CREATED, Json(response)).into_response())
}

/// What [`create`] makes.
pub(crate) struct Candidate<'a> {
    pub(crate) email: &'a str,
    pub(crate) username: &'a str,
    pub(crate) role: user::Role,
    /// Unverified accounts are mailed a verification token.
    pub(crate) email_verified: bool,
}

/// Validates and inserts an account, as signup does, with any role; an unverified one
/// is mailed its verification token by a job stored in the same transaction.
pub(crate) async fn create(
    state: &AppState,
    new: Candidate<'_>,
    password: String,
) -> Result<user::User, ApiError> {
    let mut invalid: Vec<(&'static str, Cow<'static, str>)> = Vec::new();
    if let Err(message) = check_email(new.email) {
        invalid.push(("email", message.into()));
    }
    if let Err(message) = check_username(new.username) {
        invalid.push(("username", message.into()));
    }
    if let Err(message) = check_password(&password) {
        invalid.push(("password", message));
    }
    if !invalid.is_empty() {
        return Err(ApiError::validation(invalid));
    }
    let email = new.email.to_lowercase();
    let hash = password::hash(password).await?;
    let mut tx = state.db().begin().await?;
    let row = user::NewUser {
        email: &email,
        username: new.username,
        password_hash: &hash,
        role: new.role,
        email_verified: new.email_verified,
    };
    let user = user::insert(&mut *tx, &row).await.map_err(duplicate_or)?;
    if !new.email_verified {
        state
            .jobs()
            .enqueue(mails::VerificationMail::to(&email))
            .on(&mut tx)
            .await?;
    }
    tx.commit().await?;
    Ok(user)
}

/// A unique violation names which of email and username is taken.
fn duplicate_or(error: sqlx::Error) -> ApiError {
    if let sqlx::Error::Database(db) = &error
        && db.is_unique_violation()
    {
        let which = format!("{} {}", db.constraint().unwrap_or_default(), db.message());
        return if which.contains("email") {
            ApiError::conflict("this email is already registered")
        } else {
            ApiError::conflict("this username is already taken")
        };
    }
    error.into()
}

#[utoipa::path(
    post,
    path = "/api/auth/login",
    tag = "auth",
    summary = "Sign in",
    description = "After `LOGIN_MAX_FAILURES` failed attempts for one email from one client \
                   address, that address waits `LOGIN_LOCKOUT_SECS` between attempts (`429`).",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, description = "Malformed JSON", body = ApiError),
        (status = 401, description = "Wrong email or password", body = ApiError),
        (status = 403, description = "The email address is not verified yet (`REQUIRE_VERIFIED_EMAIL`)", body = ApiError),
        (status = 413, description = "Body over the size limit", body = ApiError),
        (status = 415, description = "Not `application/json`", body = ApiError),
        (status = 422, description = "Missing fields", body = ApiError),
        (status = 429, description = "Too many requests or failed attempts from this address (`Retry-After`)", body = ApiError),
        (status = 503, description = "Database unavailable, or the request timed out (`Retry-After`)", body = ApiError),
    )
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    client: Option<ClientIp>,
    Json(request): Json<LoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let refused = || ApiError::unauthorized("invalid email or password");
    // Longer than any password a signup accepts: refused before costing a hash.
    if request.password.len() > PASSWORD_MAX_BYTES {
        return Err(refused());
    }
    let email = request.email.trim().to_lowercase();
    // A router served without Chopin's server (a test's `oneshot`) has no peer: one key.
    let client = client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    // An address no signup could have made cannot match, nor be stored as a key (it may
    // hold bytes PostgreSQL refuses): refuse it the same way without asking the database.
    let email_plausible = check_email(&email).is_ok();
    if email_plausible {
        throttle::check(&state, &email, &client).await?;
    }
    let plausible = email_plausible && check_password(&request.password).is_ok();
    let account = if plausible {
        user::by_email(state.db(), &email).await?
    } else {
        None
    };
    // Unknown email, wrong password and deactivated account look alike, and all three
    // pay for one hash check.
    let hash = account.as_ref().map(|a| a.password_hash.clone());
    let matches = password::verify(request.password, hash).await?;
    let Some(account) = account.filter(|a| matches && a.active) else {
        if email_plausible {
            throttle::failed(&state, &email, &client).await?;
        }
        return Err(refused());
    };
    throttle::succeeded(&state, &email, &client).await?;
    if state.auth_settings().require_verified_email && !account.user.email_verified {
        return Err(unverified());
    }
    Ok(Json(signed_in(&state, account.user).await?))
}

fn unverified() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "email_not_verified",
        "verify your email address first: use the token mailed at signup, or ask for another at POST /api/auth/verify/resend",
    )
}

/// A refresh token to trade.
#[derive(Deserialize, ToSchema)]
pub(crate) struct RefreshRequest {
    #[schema(example = "3f5c0a…")]
    refresh_token: String,
}

#[utoipa::path(
    post,
    path = "/api/auth/refresh",
    tag = "auth",
    summary = "Trade a refresh token for a new pair",
    description = "The refresh token is used up. Presenting a used one again signs its whole \
                   session out (someone else holds a copy).",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new access token and refresh token", body = TokenResponse),
        (status = 400, description = "Malformed JSON", body = ApiError),
        (status = 401, description = "Invalid, expired or reused refresh token, signed-out session or deactivated account", body = ApiError),
        (status = 403, description = "The email address is not verified yet (`REQUIRE_VERIFIED_EMAIL`)", body = ApiError),
        (status = 413, description = "Body over the size limit", body = ApiError),
        (status = 415, description = "Not `application/json`", body = ApiError),
        (status = 422, description = "Missing fields", body = ApiError),
        (status = 429, description = "Too many requests from this address (`Retry-After`)", body = ApiError),
        (status = 503, description = "Database unavailable, or the request timed out (`Retry-After`)", body = ApiError),
    )
)]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    Json(request): Json<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let (user_id, pair) = session::rotate(&state, &request.refresh_token).await?;
    let account = user::by_id(state.db(), user_id)
        .await?
        .filter(|account| account.active)
        .ok_or_else(|| ApiError::unauthorized("the account is deactivated"))?;
    if state.auth_settings().require_verified_email && !account.user.email_verified {
        return Err(unverified());
    }
    Ok(Json(token_response(&state, pair, account.user)))
}

#[utoipa::path(
    post,
    path = "/api/auth/logout",
    tag = "auth",
    summary = "Sign this session out",
    description = "Its access and refresh tokens stop working at once, on every instance.",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Missing, invalid or expired token, or a session already signed out", body = ApiError),
        (status = 503, description = "Database unavailable, or the request timed out (`Retry-After`)", body = ApiError),
    )
)]
pub(crate) async fn logout(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<StatusCode, ApiError> {
    session::revoke(&state, signed_in.session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/api/auth/logout-all",
    tag = "auth",
    summary = "Sign every session of this account out",
    description = "Every access and refresh token of the account stops working at once.",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every session signed out"),
        (status = 401, description = "Missing, invalid or expired token, or a session already signed out", body = ApiError),
        (status = 503, description = "Database unavailable, or the request timed out (`Retry-After`)", body = ApiError),
    )
)]
pub(crate) async fn logout_all(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<StatusCode, ApiError> {
    session::revoke_all(state.db(), signed_in.user.id).await?;
    tracing::info!(user_id = signed_in.user.id, "every session signed out");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/auth/me",
    tag = "auth",
    summary = "The signed-in user",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user the token is for", body = user::User),
        (status = 401, description = "Missing, invalid or expired token, a signed-out session, or a deactivated account", body = ApiError),
        (status = 503, description = "Database unavailable, or the request timed out (`Retry-After`)", body = ApiError),
    )
)]
pub(crate) async fn me(user: AuthUser) -> Json<user::User> {
    Json(user.0)
}

pub(super) fn check_email(email: &str) -> Result<(), &'static str> {
    let label =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let shape = email.len() <= EMAIL_MAX_BYTES
        && email.split_once('@').is_some_and(|(local, domain)| {
            (1..=EMAIL_LOCAL_MAX_BYTES).contains(&local.len())
                && local
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b))
                && domain.contains('.')
                && domain.split('.').all(label)
        });
    if shape {
        Ok(())
    } else {
        Err("must be an email address like name@example.com")
    }
}

fn check_username(username: &str) -> Result<(), &'static str> {
    let count = username.chars().count();
    if !USERNAME_CHARS.contains(&count) {
        return Err("must be 3 to 32 characters long");
    }
    let allowed = username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let starts_well = username.starts_with(|c: char| c.is_ascii_alphanumeric());
    if allowed && starts_well {
        Ok(())
    } else {
        Err("may contain only letters, digits, '_' and '-', and must start with a letter or digit")
    }
}

pub(super) fn check_password(password: &str) -> Result<(), Cow<'static, str>> {
    let chars = password.chars().count();
    if chars < PASSWORD_MIN_CHARS {
        Err(format!("must be at least {PASSWORD_MIN_CHARS} characters long").into())
    } else if chars > PASSWORD_MAX_CHARS {
        Err(format!("must be at most {PASSWORD_MAX_CHARS} characters long").into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for good in ["a@b.co", "first.last+tag@mail.example.org", "A%b@x-y.Z0"] {
            assert_eq!(check_email(good), Ok(()), "{good}");
        }
        for bad in [
            "", "plain", "@b.co", "a@", "a@b", "a@@b.co", "a b@c.de", "a@b..co", "a@.b.co",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames() {
        for good in ["abc", "Jane_Doe-2", "x".repeat(32).as_str()] {
            assert_eq!(check_username(good), Ok(()), "{good}");
        }
        for bad in ["ab", "_jane", "jane doe", "jané", "x".repeat(33).as_str()] {
            assert!(check_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password(&"é".repeat(256)).is_ok());
        assert!(check_password(&"x".repeat(257)).is_err());
    }
}
