//! Migrations: Chopin's own, then the application's.
//!
//! The two sets are recorded in different tables (`_chopin_migrations` and sqlx's
//! default `_sqlx_migrations`), so an application numbers its migrations as it likes
//! and `sqlx migrate` keeps working on its own set. Chopin's tables are prefixed
//! `chopin_`. Each migration runs in a transaction: a failing one leaves nothing behind.

use sqlx::{
    SqlSafeStr,
    migrate::{Migration, MigrationType, Migrator},
};

use super::{Backend, Db};
use crate::error::Error;

/// Where Chopin records its own migrations.
const FRAMEWORK_TABLE: &str = "_chopin_migrations";

/// Chopin's migrations for `backend`, embedded in the binary.
fn framework(backend: Backend) -> Migrator {
    let users = match backend {
        Backend::Sqlite { .. } => include_str!("../../migrations/sqlite/0001_users.sql"),
        Backend::Postgres => include_str!("../../migrations/postgres/0001_users.sql"),
    };
    let mut migrator = Migrator::with_migrations(vec![Migration::new(
        1,
        "users".into(),
        MigrationType::Simple,
        users.into_sql_str(),
        false,
    )]);
    migrator.dangerous_set_table_name(FRAMEWORK_TABLE);
    migrator
}

pub(crate) async fn run_framework_migrations(db: &Db, url: &str) -> Result<(), Error> {
    let backend = Backend::of(url)
        .ok_or_else(|| Error::database(super::masked(url), "unsupported database URL scheme"))?;
    framework(backend)
        .run(db)
        .await
        .map_err(|e| Error::migration("chopin", e))
}

pub(crate) async fn run_app_migrations(db: &Db, migrator: &Migrator) -> Result<(), Error> {
    migrator
        .run(db)
        .await
        .map_err(|e| Error::migration("application", e))
}
