//! Accounts: signup and sign-in, sessions with rotating refresh tokens, logout,
//! password change and reset, email verification, and the limits on all of them.
//!
//! Routes, mounted by every [`crate::App`] under `/api/auth` (each in the OpenAPI
//! document with its errors):
//!
//! - `POST signup` `{email, username, password}` → `201` with a token pair (or `202`
//!   when `REQUIRE_VERIFIED_EMAIL` is on), and a verification mail;
//! - `POST login` `{email, password}` → `200` with a token pair;
//! - `POST refresh` `{refresh_token}` → a new pair; the old refresh token is used up,
//!   and presenting it again signs its session out;
//! - `POST logout`, `POST logout-all` with a bearer token → `204`;
//! - `POST password` `{current_password, new_password}`, `POST password/forgot`
//!   `{email}`, `POST password/reset` `{token, password}`;
//! - `POST verify` `{token}`, `POST verify/resend` `{email}`;
//! - `GET me` with `Authorization: Bearer <token>` → the user.
//!
//! Passwords are hashed with argon2id (a random salt each) on the blocking pool. Access
//! tokens are HS256 JWTs signed with `JWT_SECRET`, valid `ACCESS_TOKEN_SECS`, naming
//! their session: [`AuthUser`] loads the user through a live session in one query, so
//! a logout is seen at once by every instance on the database. Refresh tokens and
//! mailed tokens are random, single use, and stored only as hashes. In your own
//! handlers, extract [`AuthUser`] for any signed-in user or [`RequireRole`] for a
//! minimum [`Role`].

mod extract;
pub(crate) mod handlers;
mod mails;
mod one_time;
mod password;
mod recovery;
mod session;
mod throttle;
mod user;

use axum::Router;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
};
use utoipa_axum::{
    router::{OpenApiRouter, UtoipaMethodRouter},
    routes,
};

pub use self::{
    extract::{AuthUser, MinimumRole, RequireRole, roles},
    mails::{ResetMail, VerificationMail},
    user::{Role, User},
};
use crate::{api_error::ApiError, rate_limit::RateLimit, state::AppState};

/// Name of the bearer-token security scheme in the OpenAPI document (the handlers'
/// `security(("bearer" = []))` must say the same).
const BEARER: &str = "bearer";

/// Creates an account with `role` and a verified email address, held to signup's rules
/// (a `422` naming the invalid fields, a `409` for a taken email or username): to seed
/// an admin, or to set up the users of your tests. Sign them in with
/// [`AppState::issue_token`].
///
/// ```
/// use chopin_core::{App, Config, auth::{self, Role}};
///
/// # async fn seed() -> Result<(), Box<dyn std::error::Error>> {
/// let app = App::with_config(Config::from_vars([("DATABASE_URL", "sqlite::memory:")])?).await?;
/// let admin = auth::create_user(app.state(), "root@example.com", "root", "correct horse battery", Role::Admin)
///     .await?;
/// let token = app.state().issue_token(admin.id).await?;
/// # let _ = token;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// As signup: invalid fields, a taken email or username, an unavailable database.
pub async fn create_user(
    state: &AppState,
    email: &str,
    username: &str,
    password: &str,
    role: Role,
) -> Result<User, ApiError> {
    let new = handlers::Candidate {
        email,
        username,
        role,
        email_verified: true,
    };
    handlers::create(state, new, password.to_owned()).await
}

impl AppState {
    /// Signs `user_id` in as `/api/auth/login` does, without a password: a new session
    /// and its access token, accepted by [`AuthUser`] on every instance sharing
    /// `JWT_SECRET` and the database until the session is signed out. For tests of
    /// your protected routes, or a CLI that acts as a user.
    ///
    /// # Errors
    ///
    /// An unavailable database (a `503`).
    pub async fn issue_token(&self, user_id: i64) -> Result<String, ApiError> {
        Ok(session::start(self, user_id).await?.access_token)
    }
}

/// The `/api/auth` routes, ready to merge, and their OpenAPI document: paths, the
/// `auth` tag and the bearer scheme. Every route that takes a credential or sends mail
/// has its own limit per client address; `me` and the logouts, which a token guards,
/// have none.
pub(crate) fn routes(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let per_minute = state.auth_settings().auth_rate_limit;
    let limited = |route: UtoipaMethodRouter<AppState>| {
        OpenApiRouter::new()
            .routes(route)
            .route_layer(RateLimit::per_minute(per_minute))
    };
    OpenApiRouter::with_openapi(AuthApi::openapi())
        .merge(limited(routes!(handlers::signup)))
        .merge(limited(routes!(handlers::login)))
        .merge(limited(routes!(handlers::refresh)))
        .merge(limited(routes!(recovery::change_password)))
        .merge(limited(routes!(recovery::forgot_password)))
        .merge(limited(routes!(recovery::reset_password)))
        .merge(limited(routes!(recovery::verify_email)))
        .merge(limited(routes!(recovery::resend_verification)))
        .routes(routes!(handlers::logout))
        .routes(routes!(handlers::logout_all))
        .routes(routes!(handlers::me))
        .with_state(state)
        .split_for_parts()
}

#[derive(OpenApi)]
#[openapi(
    modifiers(&BearerAuth),
    tags((name = "auth", description = "Accounts, sessions and their tokens"))
)]
struct AuthApi;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".to_owned());
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(BEARER, SecurityScheme::Http(scheme));
    }
}
