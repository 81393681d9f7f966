//! Background jobs, durable in the app's database: stored by [`Jobs::enqueue`] (inside
//! the caller's transaction if it has one), run at least once by the workers of any
//! process sharing the database, retried with backoff, kept as dead when they run out of
//! attempts. docs/jobs.md says how to write one that may run twice.

pub(crate) mod queue;
mod schedule;
mod worker;

use std::{
    borrow::Cow,
    future::{Future, IntoFuture},
    pin::Pin,
    time::{Duration, SystemTime},
};

use serde::{Serialize, de::DeserializeOwned};
use sqlx::AnyConnection;

pub use self::{
    queue::{DeadJob, JobError, Jobs, QueueCounts},
    schedule::Schedule,
};
pub(crate) use self::{
    schedule::Recurring,
    worker::{Registry, Workers},
};
use crate::{clock, state::AppState};

/// Work that outlives the request: a serde type whose fields are the job's arguments.
///
/// Register each job type with [`crate::App::job`] in every process that runs workers,
/// and enqueue it from anywhere that has the [`AppState`]:
///
/// ```
/// use chopin_core::{
///     AppState,
///     jobs::{Job, JobError},
///     serde::{Deserialize, Serialize},
/// };
///
/// #[derive(Serialize, Deserialize)]
/// #[serde(crate = "chopin_core::serde")]
/// struct Thumbnail {
///     upload_id: i64,
/// }
///
/// impl Job for Thumbnail {
///     const NAME: &'static str = "thumbnail";
///
///     async fn run(self, state: AppState) -> Result<(), JobError> {
///         let _db = state.db(); // read the upload, write the thumbnail
///         Ok(())
///     }
/// }
/// ```
///
/// A job runs at least once: a worker that dies mid-job leaves it to be run again when
/// its lease expires, so `run` should be safe to repeat (docs/jobs.md).
pub trait Job: Serialize + DeserializeOwned + Send + 'static {
    /// Stored with each job and looked up by the workers: keep it stable across releases.
    const NAME: &'static str;
    /// The queue it goes to unless the enqueue says otherwise.
    const QUEUE: &'static str = "default";
    /// Lower runs first among jobs that are due.
    const PRIORITY: i16 = 0;
    /// Runs before the job is kept as dead, the first included.
    const MAX_ATTEMPTS: u32 = 20;
    /// A run that takes longer is stopped and counts as a failed attempt.
    const TIMEOUT: Duration = Duration::from_secs(60);

    /// How long to wait before attempt `attempt + 1` after attempt `attempt` failed.
    fn backoff(attempt: u32) -> Duration {
        backoff(attempt)
    }

    /// Does the work; an error (or a panic, or the timeout) fails this attempt.
    fn run(self, state: AppState) -> impl Future<Output = Result<(), JobError>> + Send;
}

/// 2, 4, 8, ... seconds, at most an hour, each within 10% either way so that jobs that
/// failed together do not all come back together.
fn backoff(attempt: u32) -> Duration {
    let base = 2f64.powi(attempt.clamp(1, 12) as i32).min(3600.0);
    let jitter = 0.9 + 0.2 * (getrandom::u32().unwrap_or(0) as f64 / f64::from(u32::MAX));
    Duration::from_secs_f64(base * jitter)
}

impl Jobs {
    /// Stores `job` to run as soon as a worker is free; await the returned [`Enqueue`],
    /// after setting any of its options. It resolves to the job's id, or `None` when
    /// [`Enqueue::unique`] found a job with the same key waiting or running.
    ///
    /// ```
    /// # use chopin_core::{AppState, ApiError, jobs::{Job, JobError}, serde::{Deserialize, Serialize}};
    /// # #[derive(Serialize, Deserialize)]
    /// # #[serde(crate = "chopin_core::serde")]
    /// # struct Welcome { user_id: i64 }
    /// # impl Job for Welcome {
    /// #     const NAME: &'static str = "welcome";
    /// #     async fn run(self, _: AppState) -> Result<(), JobError> { Ok(()) }
    /// # }
    /// async fn sign_up(state: &AppState) -> Result<(), ApiError> {
    ///     let mut tx = state.db().begin().await?;
    ///     let (user_id,): (i64,) = chopin_core::sqlx::query_as(
    ///         "INSERT INTO chopin_users (email, username, password_hash, created_at) \
    ///          VALUES ('a@example.com', 'a', '-', '') RETURNING id",
    ///     )
    ///     .fetch_one(&mut *tx)
    ///     .await?;
    ///     // Stored with the user, or not at all.
    ///     state.jobs().enqueue(Welcome { user_id }).on(&mut tx).await?;
    ///     tx.commit().await?;
    ///     Ok(())
    /// }
    /// ```
    pub fn enqueue<J: Job>(&self, job: J) -> Enqueue<'_, J> {
        Enqueue {
            jobs: self,
            job,
            queue: Cow::Borrowed(J::QUEUE),
            priority: J::PRIORITY,
            max_attempts: J::MAX_ATTEMPTS,
            timeout: J::TIMEOUT,
            run_at: None,
            unique: None,
            conn: None,
        }
    }
}

/// A job of type `J` with its type's options, due at `run_at`.
fn new_job<J: Job>(run_at: i64, created_at: i64) -> queue::NewJob {
    queue::NewJob {
        name: J::NAME,
        queue: Cow::Borrowed(J::QUEUE),
        priority: J::PRIORITY,
        run_at,
        max_attempts: J::MAX_ATTEMPTS,
        timeout: J::TIMEOUT,
        unique: None,
        created_at,
    }
}

/// A job about to be stored, with its options; `.await` it to store it.
#[must_use = "a job is stored only when its enqueue is awaited"]
pub struct Enqueue<'a, J> {
    jobs: &'a Jobs,
    job: J,
    queue: Cow<'static, str>,
    priority: i16,
    max_attempts: u32,
    timeout: Duration,
    run_at: Option<SystemTime>,
    unique: Option<String>,
    conn: Option<&'a mut AnyConnection>,
}

impl<'a, J: Job> Enqueue<'a, J> {
    /// Stores the job on `conn`, typically a transaction (`.on(&mut tx)`): it is stored
    /// if and only if the transaction commits, and runs only after it has.
    pub fn on(mut self, conn: &'a mut AnyConnection) -> Self {
        self.conn = Some(conn);
        self
    }

    /// Runs the job at `time` or later instead of now.
    pub fn at(mut self, time: SystemTime) -> Self {
        self.run_at = Some(time);
        self
    }

    /// Runs the job once `delay` has passed.
    pub fn after(self, delay: Duration) -> Self {
        self.at(SystemTime::now() + delay)
    }

    /// Puts the job in `queue` instead of [`Job::QUEUE`].
    pub fn queue(mut self, queue: impl Into<Cow<'static, str>>) -> Self {
        self.queue = queue.into();
        self
    }

    /// Lower runs first; instead of [`Job::PRIORITY`].
    pub fn priority(mut self, priority: i16) -> Self {
        self.priority = priority;
        self
    }

    /// Stores nothing if a job with `key` is waiting or running (enqueuing resolves to
    /// `None`), e.g. `format!("reindex:{id}")` for a job that needs to run once more after
    /// any number of changes.
    pub fn unique(mut self, key: impl Into<String>) -> Self {
        self.unique = Some(key.into());
        self
    }

    /// Stops a run after `timeout` instead of [`Job::TIMEOUT`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Keeps the job as dead after `attempts` runs instead of [`Job::MAX_ATTEMPTS`].
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }
}

type Stored<'a> = Pin<Box<dyn Future<Output = Result<Option<i64>, sqlx::Error>> + Send + 'a>>;

impl<'a, J: Job> IntoFuture for Enqueue<'a, J> {
    type Output = Result<Option<i64>, sqlx::Error>;
    type IntoFuture = Stored<'a>;

    fn into_future(self) -> Self::IntoFuture {
        let payload = serde_json::to_string(&self.job);
        let now = clock::unix_millis(SystemTime::now());
        let run_at = self.run_at.map_or(now, clock::unix_millis);
        let job = queue::NewJob {
            name: J::NAME,
            queue: self.queue,
            priority: self.priority,
            run_at,
            max_attempts: self.max_attempts,
            timeout: self.timeout,
            unique: self.unique,
            created_at: now,
        };
        let Enqueue { jobs, conn, .. } = self;
        Box::pin(async move {
            let payload = payload.map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            let due = run_at <= now;
            let id = match conn {
                Some(conn) => queue::insert(conn, &job, &payload).await?,
                None => queue::insert(&mut *jobs.db.acquire().await?, &job, &payload).await?,
            };
            if due {
                jobs.wake.notify_one();
            }
            Ok(id)
        })
    }
}
