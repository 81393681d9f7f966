//! The database: one sqlx pool from `DATABASE_URL`, SQLite or PostgreSQL, and what a
//! database failure means for a request.
//!
//! The pool is an [`sqlx::AnyPool`], so the same handler code runs on either backend;
//! write portable SQL with `$1` placeholders (SQLite accepts them too).

mod migrations;

use http::StatusCode;
use sqlx::{AnyConnection, Connection, Executor, any::AnyPoolOptions};

pub(crate) use self::migrations::{
    Entry, Required, Unready, entries, framework, rollback, run_app_migrations,
};
use crate::{
    api_error::ApiError,
    config::{Backend, Config},
    error::Error,
};

/// The connection pool handed to your handlers through [`crate::AppState`].
pub type Db = sqlx::AnyPool;

/// Opens the pool (one connection up front, so a wrong URL fails at startup) and
/// applies Chopin's migrations.
pub(crate) async fn open(config: &Config) -> Result<Db, Error> {
    let (pool, backend) = connect(config).await?;
    migrations::run_framework_migrations(&pool, backend).await?;
    Ok(pool)
}

/// Opens the pool without applying any migration.
pub(crate) async fn connect(config: &Config) -> Result<(Db, Backend), Error> {
    sqlx::any::install_default_drivers();
    let backend = config.database_url.backend();
    let url = config.database_url.expose_secret();
    let mut options = AnyPoolOptions::new()
        .max_connections(config.database_max_connections)
        .acquire_timeout(config.database_acquire_timeout)
        .idle_timeout(config.database_idle_timeout);
    if let Backend::Sqlite { .. } = backend {
        // sqlx pings a connection before lending it; on SQLite that is a round trip to
        // the connection's worker thread (a third of a one-query request's thread
        // switches) and cannot find a lost server. A crashed worker still fails its
        // query with a 503 and is closed on release, whose ping sqlx always makes.
        options = options.test_before_acquire(false);
    }
    let url = match backend {
        // Every connection to `:memory:` would open its own empty database: keep one
        // connection alive for the life of the pool.
        Backend::Sqlite { in_memory: true } => {
            options = options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
            url.to_owned()
        }
        Backend::Sqlite { in_memory: false } => {
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    // Readers never wait for the writer; foreign keys and a 5 s busy
                    // timeout are already sqlx's defaults.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    Ok(())
                })
            });
            create_if_missing(url)
        }
        Backend::Postgres => url.to_owned(),
    };
    match options.connect(&url).await {
        Ok(pool) => Ok((pool, backend)),
        // The pool only says it gave up; one direct attempt says why (refused, bad
        // password, unknown host, ...).
        Err(sqlx::Error::PoolTimedOut) => {
            let why = match tokio::time::timeout(
                config.database_acquire_timeout,
                AnyConnection::connect(&url),
            )
            .await
            {
                Ok(Err(e)) => e.to_string(),
                _ => format!(
                    "no connection within {} s ({})",
                    config.database_acquire_timeout.as_secs(),
                    crate::config::vars::DATABASE_ACQUIRE_TIMEOUT_SECS
                ),
            };
            Err(Error::database(config.database_url.to_string(), why))
        }
        Err(e) => Err(Error::database(config.database_url.to_string(), e)),
    }
}

/// Drops every table of the database at `DATABASE_URL`, Chopin's, the application's and
/// their migration records; on PostgreSQL, in its current schema, with the views,
/// functions, sequences and types there too (Chopin's job queue has a trigger
/// function). How many tables were dropped.
pub(crate) async fn drop_all_tables(config: &Config) -> Result<usize, Error> {
    let (pool, backend) = connect(config).await?;
    let failed = |e: sqlx::Error| Error::database(config.database_url.to_string(), e);
    let mut conn = pool.acquire().await.map_err(failed)?;
    // What to list, and how to drop each object listed (already quoted by the query).
    let kinds: &[(&str, &str)] = match backend {
        Backend::Postgres => &[
            (
                "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = current_schema()",
                "DROP TABLE IF EXISTS {} CASCADE",
            ),
            (
                "SELECT quote_ident(viewname) FROM pg_views WHERE schemaname = current_schema()",
                "DROP VIEW IF EXISTS {} CASCADE",
            ),
            (
                "SELECT p.oid::regprocedure::text FROM pg_proc p \
                 JOIN pg_namespace n ON n.oid = p.pronamespace \
                 WHERE n.nspname = current_schema() AND p.prokind IN ('f', 'p')",
                "DROP ROUTINE IF EXISTS {} CASCADE",
            ),
            (
                "SELECT quote_ident(sequencename) FROM pg_sequences \
                 WHERE schemaname = current_schema()",
                "DROP SEQUENCE IF EXISTS {} CASCADE",
            ),
            (
                "SELECT quote_ident(t.typname) FROM pg_type t \
                 JOIN pg_namespace n ON n.oid = t.typnamespace \
                 WHERE n.nspname = current_schema() AND t.typtype IN ('e', 'd')",
                "DROP TYPE IF EXISTS {} CASCADE",
            ),
        ],
        Backend::Sqlite { .. } => &[(
            "SELECT '\"' || replace(name, '\"', '\"\"') || '\"' FROM sqlite_master \
             WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            "DROP TABLE IF EXISTS {}",
        )],
    };
    if let Backend::Sqlite { .. } = backend {
        // Tables are dropped in any order, not in the order their keys allow.
        conn.execute("PRAGMA foreign_keys = OFF")
            .await
            .map_err(failed)?;
    }
    let mut tables = 0;
    for (index, (list, drop)) in kinds.iter().enumerate() {
        let names: Vec<String> = sqlx::query_scalar(*list)
            .fetch_all(&mut *conn)
            .await
            .map_err(failed)?;
        if index == 0 {
            tables = names.len();
        }
        for name in names {
            let drop = drop.replace("{}", &name);
            conn.execute(sqlx::AssertSqlSafe(drop))
                .await
                .map_err(failed)?;
        }
    }
    if let Backend::Sqlite { .. } = backend {
        conn.execute("PRAGMA foreign_keys = ON")
            .await
            .map_err(failed)?;
    }
    drop(conn);
    pool.close().await;
    Ok(tables)
}

/// SQLite opens existing files only unless asked (`mode=rwc`).
fn create_if_missing(url: &str) -> String {
    if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// Whether `error` means the database cannot be reached now (as opposed to a bad
/// query): the request gets `503` and may be retried.
fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(e) => e.code().is_some_and(|code| unavailable_code(&code)),
        _ => false,
    }
}

/// PostgreSQL's five-character SQLSTATEs: connection exceptions (08) and shutdown in
/// progress (57P0x). SQLite's numeric result codes: BUSY (5) and LOCKED (6), with their
/// extended forms, after the busy timeout has run out.
fn unavailable_code(code: &str) -> bool {
    if code.len() == 5 {
        code.starts_with("08") || code.starts_with("57P")
    } else {
        code.parse::<u32>()
            .is_ok_and(|code| matches!(code & 0xff, 5 | 6))
    }
}

/// Database errors become `503` (database unreachable) or `500`; the client sees
/// neither SQL nor driver text, the log gets the detail.
impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if is_unavailable(&error) {
            tracing::error!(%error, "database unavailable");
            ApiError::from_status(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable; try again shortly",
            )
        } else {
            tracing::error!(%error, "database error");
            ApiError::internal()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_codes() {
        for code in ["08006", "57P01", "5", "261", "6", "262"] {
            assert!(unavailable_code(code), "{code}");
        }
        for code in ["23505", "42P01", "19", "2067", "1"] {
            assert!(!unavailable_code(code), "{code}");
        }
    }

    #[test]
    fn sqlite_files_are_created_if_missing() {
        assert_eq!(create_if_missing("sqlite:a.db"), "sqlite:a.db?mode=rwc");
        assert_eq!(
            create_if_missing("sqlite:a.db?x=1"),
            "sqlite:a.db?x=1&mode=rwc"
        );
        assert_eq!(
            create_if_missing("sqlite:a.db?mode=ro"),
            "sqlite:a.db?mode=ro"
        );
    }
}
