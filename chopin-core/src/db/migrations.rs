//! Migrations: Chopin's own, then the application's.
//!
//! The two sets are recorded in different tables (`_chopin_migrations` and sqlx's
//! default `_sqlx_migrations`), so an application numbers its migrations as it likes
//! and `sqlx migrate` keeps working on its own set. Chopin's tables are prefixed
//! `chopin_`. Each migration runs in a transaction: a failing one leaves nothing behind.

use std::{borrow::Cow, sync::Arc};

use sqlx::{
    AssertSqlSafe, Connection, Row, SqlSafeStr,
    migrate::{MigrateError, Migration, MigrationType, Migrator},
};

use super::{Backend, Db};
use crate::error::Error;

/// Where Chopin records its own migrations.
const FRAMEWORK_TABLE: &str = "_chopin_migrations";

/// Chopin's migrations for `backend`, embedded in the binary.
pub(crate) fn framework(backend: Backend) -> Migrator {
    let sql = match backend {
        Backend::Sqlite { .. } => [
            include_str!("../../migrations/sqlite/0001_users.sql"),
            include_str!("../../migrations/sqlite/0002_jobs.sql"),
            include_str!("../../migrations/sqlite/0003_accounts.sql"),
        ],
        Backend::Postgres => [
            include_str!("../../migrations/postgres/0001_users.sql"),
            include_str!("../../migrations/postgres/0002_jobs.sql"),
            include_str!("../../migrations/postgres/0003_accounts.sql"),
        ],
    };
    let names = ["users", "jobs", "accounts"];
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

/// One migration of a set, and whether a database has it.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) version: i64,
    pub(crate) description: String,
    pub(crate) applied: bool,
    /// Whether it has a down step, so it can be rolled back.
    pub(crate) reversible: bool,
    /// Whether this build has it (a newer build may have applied more).
    pub(crate) in_build: bool,
}

/// `migrator`'s migrations, oldest first, each with whether `db` has applied it; a
/// version `db` has that this build lacks is listed too, described as such.
pub(crate) async fn entries(db: &Db, migrator: &Migrator) -> Result<Vec<Entry>, sqlx::Error> {
    let applied = applied_versions(db, migrator).await?;
    let mut entries: Vec<Entry> = (migrator.iter())
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| Entry {
            version: m.version,
            description: m.description.to_string(),
            applied: applied.contains(&m.version),
            reversible: has_down(migrator, m.version),
            in_build: true,
        })
        .collect();
    for &version in &applied {
        if !entries.iter().any(|e| e.version == version) {
            entries.push(Entry {
                version,
                description: "(applied, but not in this build)".to_owned(),
                applied: true,
                reversible: false,
                in_build: false,
            });
        }
    }
    entries.sort_by_key(|e| e.version);
    Ok(entries)
}

/// The versions of `migrator`'s set that `db` has applied, oldest first; none if its
/// table does not exist yet.
async fn applied_versions(db: &Db, migrator: &Migrator) -> Result<Vec<i64>, sqlx::Error> {
    let query = format!(
        "SELECT version FROM {} WHERE success ORDER BY version",
        migrator.table_name
    );
    match sqlx::query_scalar(AssertSqlSafe(query)).fetch_all(db).await {
        Ok(versions) => Ok(versions),
        // No table: nothing applied. A database that cannot be reached is an Io or
        // pool error, not this.
        Err(sqlx::Error::Database(_)) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

fn has_down(migrator: &Migrator, version: i64) -> bool {
    (migrator.iter()).any(|m| m.version == version && m.migration_type.is_down_migration())
}

/// Undoes the latest `steps` migrations of the application's set with their down steps,
/// latest first; the ones undone. Nothing is undone if one of them has no down step.
pub(crate) async fn rollback(
    db: &Db,
    migrator: &Migrator,
    steps: usize,
) -> Result<Vec<Entry>, Error> {
    let listed = entries(db, migrator)
        .await
        .map_err(|e| Error::migration("application", MigrateError::Execute(e)))?;
    let undo: Vec<Entry> = listed
        .iter()
        .rev()
        .filter(|e| e.applied)
        .take(steps)
        .cloned()
        .collect();
    if let Some(entry) = undo.iter().find(|e| !e.reversible) {
        return Err(Error::rule(format!(
            "migration {} {} has no down step ({0}_{1}.down.sql): nothing was rolled back",
            entry.version, entry.description
        )));
    }
    // The newest version that stays applied; `undo` reverts everything above it.
    let target = (listed.iter().rev().filter(|e| e.applied))
        .nth(steps)
        .map_or(0, |e| e.version);
    let mut conn = db
        .acquire()
        .await
        .map_err(|e| Error::migration("application", MigrateError::Execute(e)))?;
    if let Err(e) = migrator.undo(&mut *conn, target).await {
        // As `run`: a failed run keeps the migration lock until its session ends.
        let _ = conn.detach().close().await;
        return Err(Error::migration("application", e));
    }
    Ok(undo)
}

/// The migrations a database must have applied to serve this build: each set's table
/// and latest version. `/readyz` asks for all of them in one query.
#[derive(Clone, Debug)]
pub(crate) struct Required {
    sets: Vec<Set>,
    /// `SELECT (SELECT MAX(version) FROM <table> WHERE success), ...`: one column per
    /// set, one round trip however many sets there are.
    query: Arc<str>,
}

#[derive(Clone, Debug)]
struct Set {
    which: &'static str,
    table: Cow<'static, str>,
    latest: i64,
}

/// Why a database cannot serve this build.
#[derive(Debug)]
pub(crate) enum Unready {
    /// It cannot be reached now.
    Unavailable(sqlx::Error),
    /// It answered with an error, e.g. that a migrations table does not exist.
    Failed(sqlx::Error),
    /// The set `which` is behind: its latest version applied, and the one needed.
    Behind {
        which: &'static str,
        applied: Option<i64>,
        needed: i64,
    },
}

impl Required {
    /// Chopin's migrations for `backend`.
    pub(crate) fn framework(backend: Backend) -> Self {
        let mut required = Self {
            sets: Vec::new(),
            query: Arc::from(""),
        };
        required.add("chopin", &framework(backend));
        required
    }

    /// The application's `migrator` too, as [`run_app_migrations`] applies it.
    pub(crate) fn add_app(&mut self, migrator: &Migrator) {
        self.add("application", migrator);
    }

    fn add(&mut self, which: &'static str, migrator: &Migrator) {
        let ups = migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration());
        // A set with no migration requires nothing.
        let Some(latest) = ups.map(|m| m.version).max() else {
            return;
        };
        let table = migrator.table_name.clone();
        self.sets.push(Set {
            which,
            table,
            latest,
        });
        let columns: Vec<String> = (self.sets.iter())
            .map(|set| format!("(SELECT MAX(version) FROM {} WHERE success)", set.table))
            .collect();
        self.query = Arc::from(format!("SELECT {}", columns.join(", ")));
    }

    /// Whether `db` answers, with every required set applied. Newer migrations than
    /// this build's are fine: during a rolling deploy the new build migrates first.
    pub(crate) async fn check(&self, db: &Db) -> Result<(), Unready> {
        if self.sets.is_empty() {
            return Ok(());
        }
        let classify = |e: sqlx::Error| match super::is_unavailable(&e) {
            true => Unready::Unavailable(e),
            false => Unready::Failed(e),
        };
        let row = sqlx::query(AssertSqlSafe(Arc::clone(&self.query)))
            .fetch_one(db)
            .await
            .map_err(classify)?;
        for (column, set) in self.sets.iter().enumerate() {
            let applied: Option<i64> = row.try_get(column).map_err(Unready::Failed)?;
            if applied.is_none_or(|applied| applied < set.latest) {
                return Err(Unready::Behind {
                    which: set.which,
                    applied,
                    needed: set.latest,
                });
            }
        }
        Ok(())
    }
}
