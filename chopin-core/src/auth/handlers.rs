//! The `/api/auth` handlers and the rules for what they accept.

use std::borrow::Cow;

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AuthUser, password, user};
use crate::{api_error::ApiError, state::AppState};

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

/// An access token and whom it is for.
#[derive(Serialize, ToSchema)]
pub(crate) struct TokenResponse {
    /// Send it as `Authorization: Bearer <access_token>`.
    access_token: String,
    #[schema(pattern = "^Bearer$", example = "Bearer")]
    token_type: &'static str,
    /// Seconds until the token expires.
    #[schema(minimum = 0, example = 86400)]
    expires_in: u64,
    user: user::User,
}

fn token_response(state: &AppState, user: user::User) -> Result<Json<TokenResponse>, ApiError> {
    Ok(Json(TokenResponse {
        access_token: state.tokens().issue(user.id)?,
        token_type: "Bearer",
        expires_in: state.tokens().expires_in(),
        user,
    }))
}

#[utoipa::path(
    post,
    path = "/api/auth/signup",
    tag = "auth",
    summary = "Create an account",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Account created", body = TokenResponse),
        (status = 400, description = "Malformed JSON", body = ApiError),
        (status = 409, description = "Email or username taken", body = ApiError),
        (status = 413, description = "Body over the size limit", body = ApiError),
        (status = 415, description = "Not `application/json`", body = ApiError),
        (status = 422, description = "Missing or invalid fields", body = ApiError),
        (status = 503, description = "Database unavailable, or the request timed out (`Retry-After`)", body = ApiError),
    )
)]
pub(crate) async fn signup(
    State(state): State<AppState>,
    Json(request): Json<SignupRequest>,
) -> Result<(StatusCode, Json<TokenResponse>), ApiError> {
    let user = create(
        &state,
        &request.email,
        &request.username,
        request.password,
        user::Role::User,
    )
    .await?;
    tracing::info!(user_id = user.id, "user signed up");
    Ok((StatusCode::CREATED, token_response(&state, user)?))
}

/// Validates and inserts an account, as signup does, with any role.
pub(crate) async fn create(
    state: &AppState,
    email: &str,
    username: &str,
    password: String,
    role: user::Role,
) -> Result<user::User, ApiError> {
    let mut invalid: Vec<(&'static str, Cow<'static, str>)> = Vec::new();
    if let Err(message) = check_email(email) {
        invalid.push(("email", message.into()));
    }
    if let Err(message) = check_username(username) {
        invalid.push(("username", message.into()));
    }
    if let Err(message) = check_password(&password) {
        invalid.push(("password", message));
    }
    if !invalid.is_empty() {
        return Err(ApiError::validation(invalid));
    }
    let email = email.to_lowercase();
    let hash = password::hash(password).await?;
    user::insert(state.db(), &email, username, &hash, role)
        .await
        .map_err(duplicate_or)
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
    summary = "Get a token for an account",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, description = "Malformed JSON", body = ApiError),
        (status = 401, description = "Wrong email or password", body = ApiError),
        (status = 413, description = "Body over the size limit", body = ApiError),
        (status = 415, description = "Not `application/json`", body = ApiError),
        (status = 422, description = "Missing fields", body = ApiError),
        (status = 503, description = "Database unavailable, or the request timed out (`Retry-After`)", body = ApiError),
    )
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    Json(request): Json<LoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let refused = || ApiError::unauthorized("invalid email or password");
    // Longer than any password a signup accepts: refused before costing a hash.
    if request.password.len() > PASSWORD_MAX_BYTES {
        return Err(refused());
    }
    let email = request.email.trim().to_lowercase();
    // An address no signup could have made, or a password no signup could have set,
    // cannot match: refuse it the same way without asking the database.
    let plausible = check_email(&email).is_ok() && check_password(&request.password).is_ok();
    let account = if plausible {
        user::by_email(state.db(), &email).await?
    } else {
        None
    };
    // Unknown email, wrong password and deactivated account look alike, and all three
    // pay for one hash check.
    let hash = account.as_ref().map(|a| a.password_hash.clone());
    let matches = password::verify(request.password, hash).await?;
    match account {
        Some(account) if matches && account.active => token_response(&state, account.user),
        _ => Err(refused()),
    }
}

#[utoipa::path(
    get,
    path = "/api/auth/me",
    tag = "auth",
    summary = "The signed-in user",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user the token is for", body = user::User),
        (status = 401, description = "Missing, invalid or expired token, or deactivated account", body = ApiError),
        (status = 503, description = "Database unavailable, or the request timed out (`Retry-After`)", body = ApiError),
    )
)]
pub(crate) async fn me(user: AuthUser) -> Json<user::User> {
    Json(user.0)
}

fn check_email(email: &str) -> Result<(), &'static str> {
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

fn check_password(password: &str) -> Result<(), Cow<'static, str>> {
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
