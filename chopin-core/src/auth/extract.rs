//! [`AuthUser`] and [`RequireRole`]: who is calling, checked on every request.

use std::{marker::PhantomData, ops::Deref};

use axum::extract::{FromRef, FromRequestParts};
use http::{header, request::Parts};

use super::{
    session,
    user::{self, Role, User},
};
use crate::{api_error::ApiError, state::AppState};

/// The signed-in user: a valid, unexpired HS256 token in `Authorization: Bearer …`
/// whose session is not signed out and whose user exists and is not deactivated.
/// Anything else is `401`.
///
/// The user is read from the database once per request and kept in the request's
/// extensions, so later extractors (another `AuthUser`, [`RequireRole`],
/// `Extension<AuthUser>`) reuse it.
///
/// ```
/// use axum::{Json, Router, routing::get};
/// use chopin_core::{App, Config, auth::{AuthUser, User}};
///
/// async fn profile(user: AuthUser) -> Json<User> {
///     Json(user.0)
/// }
///
/// # async fn build() -> Result<(), chopin_core::Error> {
/// let app = App::with_config(Config::from_vars([("DATABASE_URL", "sqlite::memory:")])?).await?;
/// let routes = Router::new().route("/profile", get(profile)).with_state(app.state().clone());
/// let app = app.router(routes);
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthUser(pub User);

impl Deref for AuthUser {
    type Target = User;

    fn deref(&self) -> &User {
        &self.0
    }
}

impl<S> FromRequestParts<S> for AuthUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // Loaded once per request: `AuthUser` and `RequireRole` (or a middleware that
        // extracted it first) in one handler cost one query.
        if let Some(user) = parts.extensions.get::<Self>() {
            return Ok(user.clone());
        }
        let state = AppState::from_ref(state);
        let token = bearer_token(parts)?;
        let (id, session_id) = state.tokens().verify(token)?;
        let user = match user::by_session(state.db(), id, session_id).await? {
            Some(account) if account.active => Self(account.user),
            Some(_) => return Err(ApiError::unauthorized("the account is deactivated")),
            None => return Err(session::ended()),
        };
        parts.extensions.insert(user.clone());
        parts.extensions.insert(SessionId(session_id));
        Ok(user)
    }
}

/// The session an [`AuthUser`]'s token belongs to, kept beside it in the extensions.
#[derive(Clone, Copy, Debug)]
struct SessionId(i64);

/// An [`AuthUser`] and the session its token names: what logout revokes.
pub(crate) struct SignedIn {
    pub(crate) user: User,
    pub(crate) session_id: i64,
}

impl<S> FromRequestParts<S> for SignedIn
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let AuthUser(user) = AuthUser::from_request_parts(parts, state).await?;
        // Inserted with every AuthUser.
        let SessionId(session_id) = parts
            .extensions
            .get::<SessionId>()
            .copied()
            .ok_or_else(session::ended)?;
        Ok(Self { user, session_id })
    }
}

fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer token"))?;
    value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|token| !token.is_empty())
        .ok_or_else(|| ApiError::unauthorized("the Authorization header is not a Bearer token"))
}

/// A minimum role for [`RequireRole`].
pub trait MinimumRole {
    /// Users with this role or a higher one pass.
    const ROLE: Role;
}

/// Markers naming the minimum role of a [`RequireRole`].
pub mod roles {
    use super::{MinimumRole, Role};

    /// Moderators and admins.
    #[derive(Clone, Copy, Debug)]
    pub struct Moderator;

    /// Admins only.
    #[derive(Clone, Copy, Debug)]
    pub struct Admin;

    impl MinimumRole for Moderator {
        const ROLE: Role = Role::Moderator;
    }

    impl MinimumRole for Admin {
        const ROLE: Role = Role::Admin;
    }
}

/// An [`AuthUser`] whose role is at least `R`'s; a lower role is `403`.
///
/// ```
/// use chopin_core::auth::{RequireRole, roles::Admin};
///
/// async fn purge(admin: RequireRole<Admin>) -> String {
///     format!("purged by {}", admin.username)
/// }
/// ```
#[derive(Clone, Debug)]
pub struct RequireRole<R> {
    user: AuthUser,
    role: PhantomData<R>,
}

impl<R> RequireRole<R> {
    /// The user who passed.
    pub fn into_inner(self) -> AuthUser {
        self.user
    }
}

impl<R> Deref for RequireRole<R> {
    type Target = User;

    fn deref(&self) -> &User {
        &self.user
    }
}

impl<S, R> FromRequestParts<S> for RequireRole<R>
where
    AppState: FromRef<S>,
    S: Send + Sync,
    R: MinimumRole + Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if user.role < R::ROLE {
            return Err(ApiError::forbidden(format!(
                "this needs the {} role or higher",
                R::ROLE
            )));
        }
        Ok(Self {
            user,
            role: PhantomData,
        })
    }
}
