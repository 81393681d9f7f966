//! HS256 access tokens: `sub` (the user id), `sid` (the session, revoked at logout),
//! `iat`, `exp`.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use crate::{
    api_error::ApiError,
    clock::unix_now,
    config::{Config, JwtSecret},
};

/// The account settings the auth routes read per request, copied out of [`Config`].
#[derive(Clone, Debug)]
pub(crate) struct AccountSettings {
    pub(crate) refresh_token_ttl: Duration,
    pub(crate) password_reset_ttl: Duration,
    pub(crate) email_verification_ttl: Duration,
    pub(crate) require_verified_email: bool,
    pub(crate) auth_rate_limit: u32,
    pub(crate) login_max_failures: u32,
    pub(crate) login_lockout: Duration,
}

impl AccountSettings {
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            refresh_token_ttl: config.refresh_token_ttl,
            password_reset_ttl: config.password_reset_ttl,
            email_verification_ttl: config.email_verification_ttl,
            require_verified_email: config.require_verified_email,
            auth_rate_limit: config.auth_rate_limit,
            login_max_failures: config.login_max_failures,
            login_lockout: config.login_lockout,
        }
    }
}

/// Clock difference tolerated between the servers that issue and check tokens.
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    sid: i64,
    iat: u64,
    exp: u64,
}

/// Signs and checks tokens with one secret.
pub(crate) struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    expiry: Duration,
}

impl Tokens {
    pub(crate) fn new(secret: &JwtSecret, expiry: Duration) -> Self {
        // Only HS256: a token naming any other algorithm (or `none`) is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            expiry,
        }
    }

    /// Seconds a new token stays valid.
    pub(crate) fn expires_in(&self) -> u64 {
        self.expiry.as_secs()
    }

    pub(crate) fn issue(&self, user_id: i64, session_id: i64) -> Result<String, ApiError> {
        let now = unix_now();
        let claims = Claims {
            sub: user_id.to_string(),
            sid: session_id,
            iat: now,
            exp: now + self.expiry.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(
            |error| {
                tracing::error!(%error, "cannot sign an access token");
                ApiError::internal()
            },
        )
    }

    /// The user and session ids in a valid token.
    pub(crate) fn verify(&self, token: &str) -> Result<(i64, i64), ApiError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => ApiError::unauthorized("the token has expired"),
                _ => ApiError::unauthorized("the token is invalid"),
            })?
            .claims;
        let user_id = claims
            .sub
            .parse()
            .map_err(|_| ApiError::unauthorized("the token is invalid"))?;
        Ok((user_id, claims.sid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(
            &JwtSecret::new("0123456789abcdef0123456789abcdef"),
            Duration::from_secs(3600),
        )
    }

    #[test]
    fn round_trip() {
        let tokens = tokens();
        let token = tokens.issue(42, 7).unwrap();
        assert_eq!(tokens.verify(&token).unwrap(), (42, 7));
    }

    #[test]
    fn another_secret_is_refused() {
        let token = tokens().issue(42, 7).unwrap();
        let other = Tokens::new(
            &JwtSecret::new("another secret, also 32 bytes long"),
            Duration::from_secs(3600),
        );
        assert_eq!(other.verify(&token).unwrap_err().status(), 401);
    }
}
