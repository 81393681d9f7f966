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
}

/// A stored user with what only the server may see.
pub(crate) struct Account {
    pub(crate) user: User,
    pub(crate) password_hash: String,
    pub(crate) active: bool,
}

/// One account query with the given `WHERE` clause, as a literal (sqlx wants static SQL).
macro_rules! select_account {
    ($filter:literal) => {
        concat!(
            "SELECT id, email, username, role, created_at, password_hash, deactivated_at \
             FROM chopin_users ",
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
        },
        password_hash: row.try_get("password_hash")?,
        active: row
            .try_get::<Option<String>, _>("deactivated_at")?
            .is_none(),
    })
}

pub(crate) async fn by_email(db: &Db, email: &str) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query(select_account!("WHERE email = $1"))
        .bind(email)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(account)
        .transpose()
}

pub(crate) async fn by_id(db: &Db, id: i64) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query(select_account!("WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(account)
        .transpose()
}

/// Inserts a new account; a duplicate email or username is the database's
/// unique-violation error, so concurrent signups cannot both win.
pub(crate) async fn insert(
    db: &Db,
    email: &str,
    username: &str,
    password_hash: &str,
    role: Role,
) -> Result<User, sqlx::Error> {
    let created_at = crate::clock::now_rfc3339();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO chopin_users (email, username, password_hash, role, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(email)
    .bind(username)
    .bind(password_hash)
    .bind(role.as_str())
    .bind(&created_at)
    .fetch_one(db)
    .await?;
    Ok(User {
        id,
        email: email.to_owned(),
        username: username.to_owned(),
        role,
        created_at,
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
