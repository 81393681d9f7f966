//! Migrations: Chopin's own, then the application's.
//!
//! The two sets are recorded in different tables (`_chopin_migrations` and sqlx's
//! default `_sqlx_migrations`), so an application numbers its migrations as it likes
//! and `sqlx migrate` keeps working on its own set. Chopin's tables are prefixed
//! `chopin_`. Each migration runs in a transaction: a failing one leaves nothing behind.

use sqlx::{
    Connection, SqlSafeStr,
    migrate::{MigrateError, Migration, MigrationType, Migrator},
};

use super::{Backend, Db};
use crate::error::Error;

/// Where Chopin records its own migrations.
const FRAMEWORK_TABLE: &str = "_chopin_migrations";

/// Chopin's migrations for `backend`, embedded in the binary.
fn framework(backend: Backend) -> Migrator {
    let sql = match backend {
        Backend::Sqlite { .. } => [
            include_str!("../../migrations/sqlite/0001_users.sql"),
            include_str!("../../migrations/sqlite/0002_jobs.sql"),
        ],
        Backend::Postgres => [
            include_str!("../../migrations/postgres/0001_users.sql"),
            include_str!("../../migrations/postgres/0002_jobs.sql"),
        ],
    };
    let names = ["users", "jobs"];
    let migrations = (1..).zip(names).zip(sql).map(|((version, name), sql)| {
        let kind = MigrationType::Simple;
        Migration::new(version, name.into(), kind, sql.into_sql_str(), false)
    });
    let mut migrator = Migrator::with_migrations(migrations.collect());
    migrator.dangerous_set_table_name(FRAMEWORK_TABLE);
    migrator
}

pub(super) async fn run_framework_migrations(db: &Db, backend: Backend) -> Result<(), Error> {
    run(db, &framework(backend), "chopin").await
}

pub(crate) async fn run_app_migrations(db: &Db, migrator: &Migrator) -> Result<(), Error> {
    run(db, migrator, "application").await
}

/// Runs `migrator` on one connection of the pool.
async fn run(db: &Db, migrator: &Migrator, which: &'static str) -> Result<(), Error> {
    let mut conn = db
        .acquire()
        .await
        .map_err(|e| Error::migration(which, MigrateError::Execute(e)))?;
    match migrator.run(&mut *conn).await {
        Ok(()) => Ok(()),
        Err(e) => {
            // A run that fails keeps sqlx's migration lock (a PostgreSQL advisory lock
            // held by this session); closing the connection releases it for the next try.
            let _ = conn.detach().close().await;
            Err(Error::migration(which, e))
        }
    }
}
