//! The queue's table: [`Jobs`], the handle to it, and its SQL, the same on both backends but for the claim's row locks and
//! PostgreSQL's `NOTIFY`. Every change to a claimed job names the attempt that claimed
//! it, so a worker whose lease expired cannot finish or fail the next run.

use std::{borrow::Cow, sync::Arc, time::Duration};

use sqlx::{AnyConnection, AssertSqlSafe, Row, SqlSafeStr, SqlStr};

use tokio::sync::Notify;

use crate::db::Db;

/// What a job's `run` may fail with: any error; its text is kept as the job's last error.
pub type JobError = Box<dyn std::error::Error + Send + Sync>;

/// The channel PostgreSQL workers listen on (named in `insert`'s `NOTIFY` too).
pub(super) const CHANNEL: &str = "chopin_jobs";

/// How long past its timeout a running job's lease lasts: the time its worker has to
/// record the outcome before another may run it again.
const LEASE_GRACE_MS: i64 = 5_000;

/// The job queue of the app's database: cheap to clone, from `AppState::jobs`.
#[derive(Clone)]
pub struct Jobs {
    pub(super) db: Db,
    pub(super) postgres: bool,
    /// Wakes this process's workers when it enqueues a job that is due.
    pub(super) wake: Arc<Notify>,
}

impl Jobs {
    pub(crate) fn new(db: Db, postgres: bool) -> Self {
        let wake = Arc::new(Notify::new());
        Self { db, postgres, wake }
    }

    /// How many jobs each queue holds, by state.
    ///
    /// # Errors
    ///
    /// If the database cannot be read.
    pub async fn counts(&self) -> Result<Vec<QueueCounts>, sqlx::Error> {
        counts(&self.db).await
    }

    /// The dead jobs, oldest first, at most `limit` of them.
    ///
    /// # Errors
    ///
    /// If the database cannot be read.
    pub async fn dead(&self, limit: u32) -> Result<Vec<DeadJob>, sqlx::Error> {
        dead(&self.db, limit).await
    }

    /// Gives the dead job `id` a fresh set of attempts, now; `false` if there is no dead
    /// job with that id.
    ///
    /// # Errors
    ///
    /// If the database cannot be written, or a job with the same unique key waits.
    pub async fn retry(&self, id: i64) -> Result<bool, sqlx::Error> {
        let retried = retry(&self.db, id).await?;
        self.wake.notify_one();
        Ok(retried)
    }

    /// Deletes the dead job `id`; `false` if there is no dead job with that id.
    ///
    /// # Errors
    ///
    /// If the database cannot be written.
    pub async fn discard(&self, id: i64) -> Result<bool, sqlx::Error> {
        discard(&self.db, id).await
    }
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs").finish_non_exhaustive()
    }
}

/// How many jobs a queue holds, by state.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueCounts {
    /// The queue's name.
    pub queue: String,
    /// Waiting for their first run.
    pub pending: i64,
    /// Claimed by a worker now.
    pub running: i64,
    /// Waiting to be retried after a failed run.
    pub failed: i64,
    /// Out of attempts, kept with their last error.
    pub dead: i64,
}

/// A job that ran out of attempts.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DeadJob {
    /// Its id, for [`Jobs::retry`] and [`Jobs::discard`].
    pub id: i64,
    /// The `Job::NAME` of its type.
    pub name: String,
    /// The queue it was in.
    pub queue: String,
    /// Runs it had.
    pub attempts: i64,
    /// What its last run failed with.
    pub last_error: String,
    /// Its arguments, as JSON.
    pub payload: String,
}

pub(crate) struct NewJob {
    pub(super) name: &'static str,
    pub(super) queue: Cow<'static, str>,
    pub(super) priority: i16,
    pub(super) run_at: i64,
    pub(super) max_attempts: u32,
    pub(super) timeout: Duration,
    pub(super) unique: Option<String>,
    pub(super) created_at: i64,
}

/// A job a worker has claimed; `attempt` is its run number, which owns the claim.
pub(super) struct Claimed {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) payload: String,
    pub(super) attempt: i64,
    pub(super) timeout: Duration,
}

/// Stores `job`; `None` if its unique key is taken. On PostgreSQL a trigger wakes the
/// workers when the transaction commits.
pub(super) async fn insert(
    conn: &mut AnyConnection,
    job: &NewJob,
    payload: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let id = sqlx::query_scalar(
        "INSERT INTO chopin_jobs \
         (name, queue, payload, priority, run_at, max_attempts, timeout_ms, unique_key, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(job.name)
    .bind(&*job.queue)
    .bind(payload)
    .bind(i64::from(job.priority))
    .bind(job.run_at)
    .bind(i64::from(job.max_attempts))
    .bind(millis(job.timeout))
    .bind(job.unique.as_deref())
    .bind(job.created_at)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(id)
}

/// The statement that claims up to `limit` jobs named one of `names` (a worker claims
/// only what it can run). PostgreSQL skips rows another worker is claiming; SQLite runs
/// one writer at a time, so its claim is atomic as it is. The limit is written in the
/// statement, not bound: with a bound limit PostgreSQL's generic plan joins the whole
/// table (its cost grew with the backlog, 4.6 ms a claim at 10,000 waiting jobs).
pub(super) fn claim_sql(names: usize, postgres: bool, limit: usize) -> SqlStr {
    let names: Vec<String> = (0..names).map(|i| format!("${}", i + 3)).collect();
    let lock = if postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE chopin_jobs SET state = 'running', attempts = attempts + 1, \
         lease_until = $1 + timeout_ms + $2 \
         WHERE id IN (SELECT id FROM chopin_jobs \
         WHERE state = 'pending' AND run_at <= $1 AND name IN ({}) \
         ORDER BY priority, run_at, id LIMIT {limit}{lock}) \
         RETURNING id, name, payload, attempts, timeout_ms",
        names.join(", ")
    );
    // Built from placeholders and a number only.
    AssertSqlSafe(sql).into_sql_str()
}

/// Claims due jobs at `now` with `sql` from [`claim_sql`].
pub(super) async fn claim(
    db: &Db,
    sql: &SqlStr,
    names: &[&'static str],
    now: i64,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let mut query = sqlx::query(sql.clone()).bind(now).bind(LEASE_GRACE_MS);
    for name in names {
        query = query.bind(*name);
    }
    let rows = query.fetch_all(db).await?;
    rows.iter()
        .map(|row| {
            Ok(Claimed {
                id: row.try_get(0)?,
                name: row.try_get(1)?,
                payload: row.try_get(2)?,
                attempt: row.try_get(3)?,
                timeout: Duration::from_millis(row.try_get::<i64, _>(4)?.try_into().unwrap_or(0)),
            })
        })
        .collect()
}

/// Refreshes PostgreSQL's statistics of the queue, so claims are planned for its size.
pub(super) async fn analyze(db: Db) {
    if let Err(error) = sqlx::raw_sql("ANALYZE chopin_jobs").execute(&db).await {
        tracing::debug!(%error, "cannot analyze chopin_jobs");
    }
}

/// These runs (job id, attempt) succeeded: the jobs are done and removed, in one
/// statement however many finished while the last one ran.
pub(super) async fn complete(db: &Db, runs: &[(i64, i64)]) -> Result<(), sqlx::Error> {
    let each: Vec<String> = (0..runs.len())
        .map(|i| format!("(id = ${} AND attempts = ${})", 2 * i + 1, 2 * i + 2))
        .collect();
    let sql = format!(
        "DELETE FROM chopin_jobs WHERE state = 'running' AND ({})",
        each.join(" OR ")
    );
    // Built from placeholders only.
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for (id, attempt) in runs {
        query = query.bind(*id).bind(*attempt);
    }
    query.execute(db).await?;
    Ok(())
}

/// The run failed with `error`: the job waits until `retry_at`, or is dead if it has had
/// its attempts. Returns whether it is dead.
pub(super) async fn fail(
    db: &Db,
    job: &Claimed,
    error: &str,
    retry_at: i64,
) -> Result<bool, sqlx::Error> {
    let state: Option<String> = sqlx::query_scalar(
        "UPDATE chopin_jobs SET lease_until = NULL, run_at = $3, last_error = $4, \
         state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'pending' END \
         WHERE id = $1 AND attempts = $2 AND state = 'running' RETURNING state",
    )
    .bind(job.id)
    .bind(job.attempt)
    .bind(retry_at)
    .bind(error)
    .fetch_optional(db)
    .await?;
    Ok(state.as_deref() == Some("dead"))
}

/// The run was stopped by a shutdown before it finished: the job waits again, this
/// attempt not counted.
pub(super) async fn release(db: &Db, id: i64, attempt: i64, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE chopin_jobs SET state = 'pending', attempts = attempts - 1, \
         lease_until = NULL, run_at = $3 WHERE id = $1 AND attempts = $2 AND state = 'running'",
    )
    .bind(id)
    .bind(attempt)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Jobs whose lease has expired (their worker died or lost the database) wait again, or
/// are dead if that was their last attempt. Returns how many.
pub(super) async fn rescue(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE chopin_jobs SET lease_until = NULL, run_at = $1, \
         last_error = 'its worker stopped before the run finished (lease expired)', \
         state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'pending' END \
         WHERE state = 'running' AND lease_until < $1",
    )
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

pub(super) async fn counts(db: &Db) -> Result<Vec<QueueCounts>, sqlx::Error> {
    let rows: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT queue, \
         COUNT(*) FILTER (WHERE state = 'pending' AND attempts = 0), \
         COUNT(*) FILTER (WHERE state = 'running'), \
         COUNT(*) FILTER (WHERE state = 'pending' AND attempts > 0), \
         COUNT(*) FILTER (WHERE state = 'dead') \
         FROM chopin_jobs GROUP BY queue ORDER BY queue",
    )
    .fetch_all(db)
    .await?;
    let counts = rows
        .into_iter()
        .map(|(queue, pending, running, failed, dead)| QueueCounts {
            queue,
            pending,
            running,
            failed,
            dead,
        });
    Ok(counts.collect())
}

pub(super) async fn dead(db: &Db, limit: u32) -> Result<Vec<DeadJob>, sqlx::Error> {
    let rows: Vec<(i64, String, String, i64, Option<String>, String)> = sqlx::query_as(
        "SELECT id, name, queue, attempts, last_error, payload FROM chopin_jobs \
         WHERE state = 'dead' ORDER BY id LIMIT $1",
    )
    .bind(i64::from(limit))
    .fetch_all(db)
    .await?;
    let dead = rows
        .into_iter()
        .map(|(id, name, queue, attempts, error, payload)| DeadJob {
            id,
            name,
            queue,
            attempts,
            last_error: error.unwrap_or_default(),
            payload,
        });
    Ok(dead.collect())
}

pub(super) async fn retry(db: &Db, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE chopin_jobs SET state = 'pending', attempts = 0, run_at = $2 \
         WHERE id = $1 AND state = 'dead'",
    )
    .bind(id)
    .bind(crate::clock::unix_millis(std::time::SystemTime::now()))
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn discard(db: &Db, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM chopin_jobs WHERE id = $1 AND state = 'dead'")
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub(super) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
