//! The `chopin_users` table: [`User`], [`Role`] and the queries the auth routes make.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use sqlx::{Row, any::AnyRow};
use utoipa::ToSchema;

use crate::db::Db;

/// What a user may do; each role includes the ones below it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every new account.
    User,
    /// Trusted users.
    Moderator,
    /// Everything.
    Admin,
}

impl Role {
    /// The name stored in the database and sent in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Moderator => "moderator",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "user" => Ok(Self::User),
            "moderator" => Ok(Self::Moderator),
            "admin" => Ok(Self::Admin),
            _ => Err(()),
        }
    }
}

/// A user as the API shows it: never the password hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct User {
    /// Database id, also the token's `sub`.
    pub id: i64,
    /// Lower-cased email address, unique.
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// Unique regardless of case.
    pub username: String,
    /// See [`Role`].
    pub role: Role,
    /// RFC 3339, UTC.
    #[schema(format = DateTime, example = "2026-11-27T09:30:00Z")]
    pub created_at: String,
    /// Whether the owner of `email` has confirmed it (`POST /api/auth/verify`).
    pub email_verified: bool,
}

/// A stored user with what only the server may see.
pub(crate) struct Account {
    pub(crate) user: User,
    pub(crate) password_hash: String,
    pub(crate) active: bool,
}

/// One account query with the given joins and `WHERE` clause on `chopin_users u`, as a
/// literal (sqlx wants static SQL).
macro_rules! select_account {
    ($filter:literal) => {
        concat!(
            "SELECT u.id, u.email, u.username, u.role, u.created_at, u.password_hash, \
             u.deactivated_at, u.email_verified_at FROM chopin_users u ",
            $filter
        )
    };
}

fn account(row: &AnyRow) -> Result<Account, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(Account {
        user: User {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            username: row.try_get("username")?,
            role: role.parse().map_err(|()| sqlx::Error::ColumnDecode {
                index: "role".into(),
                source: format!("unknown role {role:?}").into(),
            })?,
            created_at: row.try_get("created_at")?,
            email_verified: row
                .try_get::<Option<String>, _>("email_verified_at")?
                .is_some(),
        },
        password_hash: row.try_get("password_hash")?,
        active: row
            .try_get::<Option<String>, _>("deactivated_at")?
            .is_none(),
    })
}

pub(crate) async fn by_email(db: &Db, email: &str) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query(select_account!("WHERE u.email = $1"))
        .bind(email)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(account)
        .transpose()
}

pub(crate) async fn by_id(db: &Db, id: i64) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query(select_account!("WHERE u.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(account)
        .transpose()
}

/// The account `id`, only if its session `session_id` is live: the one query behind
/// every authenticated request, so a revoked session costs nothing extra to refuse.
pub(crate) async fn by_session(
    db: &Db,
    id: i64,
    session_id: i64,
) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query(select_account!(
        "JOIN chopin_sessions s ON s.user_id = u.id AND s.revoked_at IS NULL \
         WHERE u.id = $1 AND s.id = $2"
    ))
    .bind(id)
    .bind(session_id)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(account)
    .transpose()
}

/// Replaces the password hash of `id`.
pub(crate) async fn set_password<'c>(
    executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
    id: i64,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE chopin_users SET password_hash = $1 WHERE id = $2")
        .bind(password_hash)
        .bind(id)
        .execute(executor)
        .await?;
    Ok(())
}

/// Records that the owner of `id`'s email address has shown they read it.
pub(crate) async fn mark_verified<'c>(
    executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
    id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE chopin_users SET email_verified_at = $1 WHERE id = $2 AND email_verified_at IS NULL",
    )
    .bind(crate::clock::now_rfc3339())
    .bind(id)
    .execute(executor)
    .await?;
    Ok(())
}

/// A new account's fields.
pub(crate) struct NewUser<'a> {
    pub(crate) email: &'a str,
    pub(crate) username: &'a str,
    pub(crate) password_hash: &'a str,
    pub(crate) role: Role,
    /// Created by the operator, whose word stands for the address.
    pub(crate) email_verified: bool,
}

/// Inserts a new account; a duplicate email or username is the database's
/// unique-violation error, so concurrent signups cannot both win.
pub(crate) async fn insert<'c>(
    executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
    new: &NewUser<'_>,
) -> Result<User, sqlx::Error> {
    let created_at = crate::clock::now_rfc3339();
    let verified_at = new.email_verified.then_some(created_at.as_str());
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO chopin_users \
         (email, username, password_hash, role, created_at, email_verified_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(new.email)
    .bind(new.username)
    .bind(new.password_hash)
    .bind(new.role.as_str())
    .bind(&created_at)
    .bind(verified_at)
    .fetch_one(executor)
    .await?;
    Ok(User {
        id,
        email: new.email.to_owned(),
        username: new.username.to_owned(),
        role: new.role,
        created_at,
        email_verified: new.email_verified,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered() {
        assert!(Role::User < Role::Moderator && Role::Moderator < Role::Admin);
        assert_eq!("admin".parse(), Ok(Role::Admin));
        assert_eq!("root".parse::<Role>(), Err(()));
    }
}
