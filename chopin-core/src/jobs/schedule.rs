//! Recurring jobs: a cron pattern whose every tick enqueues one job, once across all the
//! processes that share the database.
//!
//! Each schedule has a row holding the last tick enqueued. A process claims a tick by
//! moving that row forward (`UPDATE ... WHERE last_tick < tick`) in the transaction that
//! stores the tick's job, so two processes cannot both claim one tick, and a claim that
//! fails to commit leaves the tick to the others. Missed ticks are not replayed one by
//! one: after downtime, the latest one runs once.

use std::{
    str::FromStr,
    time::{Duration, SystemTime},
};

use chrono::{DateTime, Utc};
use croner::{Cron, parser::CronParser, parser::Seconds};
use tokio::sync::watch;

use super::{Job, Jobs, queue};
use crate::{clock::unix_millis, error::Error};

/// When a recurring job runs: a cron pattern, in UTC.
///
/// Five fields (`minute hour day-of-month month day-of-week`) or six with seconds first;
/// `@daily`, `@hourly` and the other nicknames too.
///
/// ```
/// use chopin_core::jobs::Schedule;
///
/// let nightly = Schedule::cron("0 3 * * *")?; // 03:00 UTC every day
/// let often = Schedule::cron("*/10 * * * * *")?; // every ten seconds
/// assert!(Schedule::cron("61 * * * *").is_err());
/// # Ok::<(), chopin_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Schedule {
    cron: Cron,
    pattern: String,
}

impl Schedule {
    /// Parses a cron `pattern`.
    ///
    /// # Errors
    ///
    /// If the pattern is malformed; the message shows it and says why.
    pub fn cron(pattern: &str) -> Result<Self, Error> {
        let parser = CronParser::builder().seconds(Seconds::Optional).build();
        match parser.parse(pattern) {
            Ok(cron) => Ok(Self {
                cron,
                pattern: pattern.to_owned(),
            }),
            Err(e) => Err(Error::schedule(pattern, e)),
        }
    }

    /// The latest tick at or before `now`.
    fn latest(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_previous_occurrence(&now, true).ok()
    }

    /// The first tick after `now`.
    fn next(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&now, false).ok()
    }
}

impl FromStr for Schedule {
    type Err = Error;

    fn from_str(pattern: &str) -> Result<Self, Error> {
        Self::cron(pattern)
    }
}

type Make =
    Box<dyn Fn(SystemTime) -> Result<(queue::NewJob, String), serde_json::Error> + Send + Sync>;

/// One recurring job: its schedule and how to make the job of a tick.
pub(crate) struct Recurring {
    /// The row that records its last tick: the job's name and the pattern.
    key: String,
    schedule: Schedule,
    make: Make,
}

impl Recurring {
    pub(crate) fn new<J: Job>(
        schedule: Schedule,
        job: impl Fn(SystemTime) -> J + Send + Sync + 'static,
    ) -> Self {
        let key = format!("{}@{}", J::NAME, schedule.pattern);
        let make: Make = Box::new(move |tick| {
            let payload = serde_json::to_string(&job(tick))?;
            let at = unix_millis(tick);
            Ok((super::new_job::<J>(at, at), payload))
        });
        Self {
            key,
            schedule,
            make,
        }
    }

    pub(crate) fn key(&self) -> &str {
        &self.key
    }
}

/// Enqueues the job of each tick of `recurring` that this process claims, until `stop`.
pub(crate) async fn run(jobs: Jobs, recurring: Vec<Recurring>, mut stop: watch::Receiver<bool>) {
    let now = unix_millis(SystemTime::now());
    for r in &recurring {
        // A new schedule starts now: it does not run for the ticks before it existed.
        let added = sqlx::query(
            "INSERT INTO chopin_schedules (name, last_tick) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&r.key)
        .bind(now)
        .execute(&jobs.db)
        .await;
        if let Err(error) = added {
            tracing::warn!(schedule = r.key, %error, "cannot record a schedule");
        }
    }
    while !*stop.borrow() {
        let now = utc_now();
        let mut next = now + chrono::Duration::seconds(60);
        for r in &recurring {
            let claimed = match r.schedule.latest(now) {
                Some(tick) => claim(&jobs, r, tick).await,
                None => Ok(()),
            };
            if let Err(error) = claimed {
                tracing::warn!(schedule = r.key, %error, "cannot enqueue a scheduled job; trying again shortly");
                next = next.min(now + chrono::Duration::seconds(1));
            }
            if let Some(tick) = r.schedule.next(now) {
                next = next.min(tick);
            }
        }
        let wait = (next - utc_now()).to_std().unwrap_or_default();
        tokio::select! {
            changed = stop.changed() => if changed.is_err() { break },
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// The time as chrono needs it, from the same clock as the queue's.
fn utc_now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(unix_millis(SystemTime::now())).unwrap_or_default()
}

/// Enqueues the job of `tick` if no process has yet.
async fn claim(jobs: &Jobs, recurring: &Recurring, tick: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let tick_time = SystemTime::UNIX_EPOCH
        + Duration::from_millis(tick.timestamp_millis().try_into().unwrap_or(0));
    let mut tx = jobs.db.begin().await?;
    let claimed = sqlx::query(
        "UPDATE chopin_schedules SET last_tick = $2 WHERE name = $1 AND last_tick < $2",
    )
    .bind(&recurring.key)
    .bind(tick.timestamp_millis())
    .execute(&mut *tx)
    .await?;
    if claimed.rows_affected() == 0 {
        return Ok(());
    }
    let (job, payload) =
        (recurring.make)(tick_time).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    queue::insert(&mut tx, &job, &payload).await?;
    tx.commit().await?;
    jobs.wake.notify_one();
    tracing::debug!(schedule = recurring.key, %tick, "scheduled job enqueued");
    Ok(())
}
