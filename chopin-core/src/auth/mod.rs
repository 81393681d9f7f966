//! Users, passwords and access tokens.
//!
//! Routes, mounted by every [`crate::App`] under `/api/auth`:
//!
//! - `POST /api/auth/signup` `{email, username, password}` → `201` with a token;
//! - `POST /api/auth/login` `{email, password}` → `200` with a token;
//! - `GET /api/auth/me` with `Authorization: Bearer <token>` → the user.
//!
//! Passwords are hashed with argon2id (a random salt each) on the blocking pool; tokens
//! are HS256 JWTs signed with `JWT_SECRET`, valid for `JWT_EXPIRY_HOURS`. In your own
//! handlers, extract [`AuthUser`] for any signed-in user or [`RequireRole`] for a
//! minimum [`Role`].

mod extract;
pub(crate) mod handlers;
mod password;
mod user;

use axum::Router;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
};
use utoipa_axum::{router::OpenApiRouter, routes};

pub use self::{
    extract::{AuthUser, MinimumRole, RequireRole, roles},
    user::{Role, User},
};
use crate::{api_error::ApiError, state::AppState};

/// Name of the bearer-token security scheme in the OpenAPI document (the handlers'
/// `security(("bearer" = []))` must say the same).
const BEARER: &str = "bearer";

/// Creates an account with `role`, held to signup's rules (a `422` naming the invalid
/// fields, a `409` for a taken email or username): to seed an admin, or to set up the
/// users of your tests. Sign them in with [`AppState::issue_token`].
///
/// ```
/// use chopin_core::{App, Config, auth::{self, Role}};
///
/// # async fn seed() -> Result<(), Box<dyn std::error::Error>> {
/// let app = App::with_config(Config::from_vars([("DATABASE_URL", "sqlite::memory:")])?).await?;
/// let admin = auth::create_user(app.state(), "root@example.com", "root", "correct horse battery", Role::Admin)
///     .await?;
/// let token = app.state().issue_token(admin.id)?;
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
    handlers::create(state, email, username, password.to_owned(), role).await
}

/// The `/api/auth` routes, ready to merge, and their OpenAPI document: paths, the
/// `auth` tag and the bearer scheme.
pub(crate) fn routes(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(AuthApi::openapi())
        .routes(routes!(handlers::signup))
        .routes(routes!(handlers::login))
        .routes(routes!(handlers::me))
        .with_state(state)
        .split_for_parts()
}

#[derive(OpenApi)]
#[openapi(
    modifiers(&BearerAuth),
    tags((name = "auth", description = "Accounts and access tokens"))
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
