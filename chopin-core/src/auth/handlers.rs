//! The `/api/auth` handlers and the rules for what they accept.

use std::borrow::Cow;

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};

use super::{AuthUser, password, user};
use crate::{api_error::ApiError, state::AppState};

const PASSWORD_MIN_CHARS: usize = 8;
/// Hashing cost grows with length; nobody types more.
const PASSWORD_MAX_BYTES: usize = 1024;
const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 3..=32;
const EMAIL_MAX_BYTES: usize = 254;

#[derive(Deserialize)]
pub(crate) struct SignupRequest {
    email: String,
    username: String,
    password: String,
}

#[derive(Deserialize)]
pub(crate) struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Serialize)]
pub(crate) struct TokenResponse {
    access_token: String,
    token_type: &'static str,
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

pub(crate) async fn signup(
    State(state): State<AppState>,
    Json(request): Json<SignupRequest>,
) -> Result<(StatusCode, Json<TokenResponse>), ApiError> {
    let email = request.email.trim().to_lowercase();
    let username = request.username.trim();
    let mut invalid: Vec<(&'static str, Cow<'static, str>)> = Vec::new();
    if let Err(message) = check_email(&email) {
        invalid.push(("email", message.into()));
    }
    if let Err(message) = check_username(username) {
        invalid.push(("username", message.into()));
    }
    if let Err(message) = check_password(&request.password) {
        invalid.push(("password", message));
    }
    if !invalid.is_empty() {
        return Err(ApiError::validation(invalid));
    }
    let hash = password::hash(request.password).await?;
    let user = user::insert(state.db(), &email, username, &hash)
        .await
        .map_err(duplicate_or)?;
    tracing::info!(user_id = user.id, "user signed up");
    Ok((StatusCode::CREATED, token_response(&state, user)?))
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

pub(crate) async fn login(
    State(state): State<AppState>,
    Json(request): Json<LoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let email = request.email.trim().to_lowercase();
    let account = user::by_email(state.db(), &email).await?;
    // Unknown email, wrong password and deactivated account look alike, and all three
    // pay for one hash check.
    let hash = account.as_ref().map(|a| a.password_hash.clone());
    let matches = password::verify(request.password, hash).await?;
    match account {
        Some(account) if matches && account.active => token_response(&state, account.user),
        _ => Err(ApiError::unauthorized("invalid email or password")),
    }
}

pub(crate) async fn me(user: AuthUser) -> Json<user::User> {
    Json(user.0)
}

fn check_email(email: &str) -> Result<(), &'static str> {
    let shape = email.len() <= EMAIL_MAX_BYTES
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && local.len() <= 64
                && !domain.contains('@')
                && domain.contains('.')
                && domain.split('.').all(|label| !label.is_empty())
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
    if password.chars().count() < PASSWORD_MIN_CHARS {
        Err(format!("must be at least {PASSWORD_MIN_CHARS} characters long").into())
    } else if password.len() > PASSWORD_MAX_BYTES {
        Err(format!("must be at most {PASSWORD_MAX_BYTES} bytes long").into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for good in ["a@b.co", "first.last+tag@mail.example.org"] {
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
        assert!(check_password(&"x".repeat(1025)).is_err());
    }
}
