//! The workers of one process: claim due jobs, run each under its timeout, record how it
//! went; at shutdown, stop claiming, let running jobs finish within the deadline and
//! return the rest to the queue.

use std::{
    any::{Any, TypeId},
    collections::HashMap,
    future::Future,
    pin::Pin,
    time::{Duration, Instant, SystemTime},
};

use sqlx::postgres::PgListener;
use tokio::{
    sync::{mpsc, watch},
    task::{self, JoinHandle, JoinSet},
};

use super::{Job, JobError, Recurring, queue, schedule};
use crate::{clock::unix_millis, config::Config, state::AppState};

/// How often an idle worker looks for due jobs without being woken: delayed jobs, jobs
/// enqueued by another process on SQLite, expired leases.
const POLL: Duration = Duration::from_secs(1);

/// How often the queues' counts are logged while workers run.
const COUNTS_EVERY: Duration = Duration::from_secs(300);

/// How often a busy queue has PostgreSQL analyze `chopin_jobs`. A queue's backlog swings
/// faster than autovacuum's minute: planned on the statistics of a near-empty table, a
/// claim sorts the whole backlog (2,054 jobs a second through a fresh backlog of 10,000,
/// 8,369 once analyzed; bench/jobs.sh).
const ANALYZE_EVERY: Duration = Duration::from_secs(30);

/// How long a few freed slots wait for others before they are claimed for.
const GATHER: Duration = Duration::from_millis(2);

/// Most successful runs recorded by one statement.
const COMPLETE_BATCH: usize = 100;

type Run = fn(String, AppState) -> Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;

/// How to run one job type.
#[derive(Clone, Copy)]
pub(crate) struct Entry {
    run: Run,
    backoff: fn(u32) -> Duration,
    type_id: TypeId,
}

/// The job types this process can run, by [`Job::NAME`].
#[derive(Clone, Default)]
pub(crate) struct Registry(HashMap<&'static str, Entry>);

impl Registry {
    /// Adds `J` (again, which changes nothing); `false` if another type has its name.
    pub(crate) fn add<J: Job>(&mut self) -> bool {
        let entry = Entry {
            run: |payload, state| {
                Box::pin(async move {
                    let job: J = serde_json::from_str(&payload)?;
                    job.run(state).await
                })
            },
            backoff: J::backoff,
            type_id: TypeId::of::<J>(),
        };
        let known = self.0.entry(J::NAME).or_insert(entry);
        known.type_id == TypeId::of::<J>()
    }
}

/// This process's workers, ready to run.
pub(crate) struct Workers {
    state: AppState,
    registry: Registry,
    recurring: Vec<Recurring>,
    concurrency: usize,
    /// PostgreSQL's URL, to listen for new jobs on.
    listen: Option<String>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl Workers {
    /// `None` when `JOBS_WORKERS=0` or no job type is registered.
    pub(crate) fn new(
        state: AppState,
        registry: Registry,
        recurring: Vec<Recurring>,
        config: &Config,
    ) -> Option<Self> {
        if config.jobs_workers == 0 || registry.0.is_empty() {
            return None;
        }
        let url = &config.database_url;
        Some(Self {
            state,
            registry,
            recurring,
            concurrency: config.jobs_workers,
            listen: url.is_postgres().then(|| url.expose_secret().to_owned()),
        })
    }

    /// Runs jobs until `stop` turns true, then drains within `drain`.
    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>, drain: Duration) {
        let jobs = self.state.jobs().clone();
        let recurring = std::mem::take(&mut self.recurring);
        let scheduler = tokio::spawn(schedule::run(jobs.clone(), recurring, stop.clone()));
        let db = self.state.db().clone();
        let names: Vec<&'static str> = self.registry.0.keys().copied().collect();
        // The claim statement for each number of free slots, from one to all.
        let claim: Vec<_> = (1..=self.concurrency)
            .map(|limit| queue::claim_sql(names.len(), jobs.postgres, limit))
            .collect();
        let mut listener = match &self.listen {
            Some(url) => listen(url).await,
            None => None,
        };
        // Successes are recorded by one task, in batches: one write for every run that
        // finished while the last write ran, instead of one write per job.
        let (done, finished) = mpsc::unbounded_channel();
        let completer = tokio::spawn(complete(db.clone(), finished));
        let mut running = JoinSet::new();
        // The claim (job id, attempt) of each running task.
        let mut claims: HashMap<task::Id, (i64, i64)> = HashMap::new();
        // When this process last had PostgreSQL analyze the queue (see `ANALYZE_EVERY`).
        let mut analyzed: Option<Instant> = None;
        // Until when freed slots wait for more (see `GATHER`).
        let mut gathering: Option<Instant> = None;
        // The last claim found fewer due jobs than it asked for: the next waits for a
        // wake-up, a notification or the poll, not for a slot to free up.
        let mut drained = false;
        // Delayed jobs, other processes' jobs on SQLite, and a missed notification are
        // found here, however busy the workers are.
        let mut poll = tokio::time::interval(POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut outage = Outage::default();
        let mut rescued = Instant::now().checked_sub(POLL);
        let mut counted = Instant::now().checked_sub(COUNTS_EVERY);
        tracing::info!(workers = self.concurrency, jobs = ?names, "job workers started");
        while !*stop.borrow() {
            if rescued.is_none_or(|at| at.elapsed() >= POLL) {
                rescued = Some(Instant::now());
                match queue::rescue(&db, unix_millis(SystemTime::now())).await {
                    Ok(n) => {
                        outage.ended();
                        if n > 0 {
                            tracing::warn!(jobs = n, "jobs whose worker stopped are due again");
                        }
                    }
                    Err(error) => outage.failed("cannot look for expired job leases", &error),
                }
            }
            if counted.is_none_or(|at| at.elapsed() >= COUNTS_EVERY) {
                counted = Some(Instant::now());
                log_counts(&jobs).await;
            }
            let free = self.concurrency.saturating_sub(running.len());
            // A few free slots while others run: wait a moment for more to free up, so
            // that a busy queue of short jobs is claimed in batches, not one per job.
            let few = free < self.concurrency.div_ceil(2) && !running.is_empty();
            if free > 0 && few && !drained && gathering.is_none() {
                gathering = Some(Instant::now() + GATHER);
            }
            let gathered = !few || gathering.is_some_and(|until| Instant::now() >= until);
            if free > 0 && !drained && gathered {
                gathering = None;
                let now = unix_millis(SystemTime::now());
                match queue::claim(&db, &claim[free - 1], &names, now).await {
                    Ok(batch) => {
                        outage.ended();
                        let busy = batch.len() == free;
                        drained = !busy;
                        if busy
                            && jobs.postgres
                            && analyzed.is_none_or(|at| at.elapsed() >= ANALYZE_EVERY)
                        {
                            analyzed = Some(Instant::now());
                            tokio::spawn(queue::analyze(db.clone()));
                        }
                        for job in batch {
                            let claim = (job.id, job.attempt);
                            let task = running.spawn(self.execute(job, done.clone()));
                            claims.insert(task.id(), claim);
                        }
                    }
                    Err(error) => {
                        drained = true;
                        outage.failed("cannot claim jobs", &error);
                    }
                }
            }
            tokio::select! {
                changed = stop.changed() => if changed.is_err() { break },
                () = jobs.wake.notified() => drained = false,
                () = notified(&mut listener) => drained = false,
                _ = poll.tick() => drained = false,
                () = sleep_until(gathering), if gathering.is_some() => {}
                Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                    claims.remove(&task_id(&done));
                    while let Some(done) = running.try_join_next_with_id() {
                        claims.remove(&task_id(&done));
                    }
                }
            }
        }
        if !running.is_empty() {
            tracing::info!(running = running.len(), "waiting for running jobs");
        }
        let deadline = tokio::time::sleep(drain);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                done = running.join_next_with_id() => match done {
                    Some(done) => { claims.remove(&task_id(&done)); }
                    None => break,
                },
                () = &mut deadline => break,
            }
        }
        // Aborting a task drops its job's run (see `Running`) before it is released.
        running.shutdown().await;
        let now = unix_millis(SystemTime::now());
        for (id, attempt) in claims.into_values() {
            match queue::release(&db, id, attempt, now).await {
                Ok(()) => tracing::info!(id, "job stopped by the shutdown, returned to the queue"),
                Err(error) => {
                    tracing::warn!(id, %error, "cannot return a job to the queue; it runs again when its lease expires")
                }
            }
        }
        drop(done);
        let _ = completer.await;
        let _ = scheduler.await;
        tracing::info!("job workers stopped");
    }

    /// Runs `job` and records the outcome.
    fn execute(
        &self,
        job: queue::Claimed,
        done: mpsc::UnboundedSender<(i64, i64)>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let state = self.state.clone();
        let entry = self.registry.0.get(job.name.as_str()).copied();
        async move {
            let db = state.db().clone();
            let Some(entry) = entry else {
                // Claims name only registered types; a row edited by hand could still get here.
                let error = format!("no job named {:?} is registered here", job.name);
                let _ = queue::fail(&db, &job, &error, unix_millis(SystemTime::now())).await;
                return;
            };
            let started = Instant::now();
            let mut run = Running(task::spawn((entry.run)(job.payload.clone(), state)));
            let error = match tokio::time::timeout(job.timeout, &mut run.0).await {
                Ok(Ok(Ok(()))) => None,
                Ok(Ok(Err(error))) => Some(error.to_string()),
                Ok(Err(join)) => Some(panicked(join)),
                Err(_) => Some(format!("timed out after {:?}", job.timeout)),
            };
            let (id, name, attempt) = (job.id, &job.name, job.attempt);
            let elapsed = started.elapsed();
            let recorded = match &error {
                None => {
                    tracing::debug!(id, name, attempt, ?elapsed, "job done");
                    // Only a shutdown closes the channel, after every run has ended.
                    let _ = done.send((id, attempt));
                    Ok(())
                }
                Some(error) => {
                    let attempt_number = u32::try_from(attempt).unwrap_or(u32::MAX);
                    let retry_at = SystemTime::now() + (entry.backoff)(attempt_number);
                    match queue::fail(&db, &job, error, unix_millis(retry_at)).await {
                        Ok(true) => {
                            tracing::error!(
                                id,
                                name,
                                attempt,
                                error,
                                "job failed its last attempt and is dead"
                            );
                            Ok(())
                        }
                        Ok(false) => {
                            tracing::warn!(
                                id,
                                name,
                                attempt,
                                error,
                                "job failed; it will be retried"
                            );
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            if let Err(error) = recorded {
                tracing::warn!(id, name, %error, "cannot record a job's outcome; it runs again when its lease expires");
            }
        }
    }
}

/// Records the successful runs sent on `finished`, many at a time, until every sender is
/// gone.
async fn complete(db: crate::db::Db, mut finished: mpsc::UnboundedReceiver<(i64, i64)>) {
    let mut runs = Vec::with_capacity(COMPLETE_BATCH);
    while finished.recv_many(&mut runs, COMPLETE_BATCH).await > 0 {
        if let Err(error) = queue::complete(&db, &runs).await {
            tracing::warn!(jobs = runs.len(), %error, "cannot record finished jobs; they run again when their lease expires");
        }
        runs.clear();
    }
}

/// A database the workers cannot reach is logged when that starts and when it ends, not
/// at every poll.
#[derive(Default)]
struct Outage(bool);

impl Outage {
    fn failed(&mut self, what: &str, error: &sqlx::Error) {
        if std::mem::replace(&mut self.0, true) {
            tracing::debug!(%error, "{what}");
        } else {
            tracing::warn!(%error, "{what}; trying again every second");
        }
    }

    fn ended(&mut self) {
        if std::mem::take(&mut self.0) {
            tracing::info!("the job queue's database answers again");
        }
    }
}

/// The task a finished (or failed) join names.
fn task_id(done: &Result<(task::Id, ()), task::JoinError>) -> task::Id {
    done.as_ref()
        .map_or_else(task::JoinError::id, |(id, ())| *id)
}

/// A job's run, on a task of its own so that a panic is its failure and not the worker's;
/// dropped (timeout, shutdown), it stops the run.
struct Running(JoinHandle<Result<(), JobError>>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn panicked(join: task::JoinError) -> String {
    if join.is_cancelled() {
        return "cancelled".to_owned();
    }
    let payload: Box<dyn Any + Send> = join.into_panic();
    let message = (payload.downcast_ref::<&str>().copied())
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
    format!("panicked: {}", message.unwrap_or("(no message)"))
}

async fn sleep_until(until: Option<Instant>) {
    match until {
        Some(until) => tokio::time::sleep_until(until.into()).await,
        None => std::future::pending().await,
    }
}

/// A listener on the jobs channel; `None` (polling only) if it cannot be opened.
async fn listen(url: &str) -> Option<PgListener> {
    let listener = async {
        let mut listener = PgListener::connect(url).await?;
        listener.listen(queue::CHANNEL).await?;
        Ok::<_, sqlx::Error>(listener)
    };
    match listener.await {
        Ok(listener) => Some(listener),
        Err(error) => {
            tracing::warn!(%error, "cannot listen for new jobs; polling every {POLL:?}");
            None
        }
    }
}

/// The next notification of a new job; never, without a listener.
async fn notified(listener: &mut Option<PgListener>) {
    match listener {
        Some(listener) => {
            if let Err(error) = listener.recv().await {
                // The listener reconnects on the next call; poll meanwhile.
                tracing::warn!(%error, "lost the job notifications' connection");
                tokio::time::sleep(POLL).await;
            }
        }
        None => std::future::pending().await,
    }
}

async fn log_counts(jobs: &super::Jobs) {
    match jobs.counts().await {
        Ok(counts) => {
            for c in counts {
                let (queue, pending, running, failed, dead) =
                    (c.queue, c.pending, c.running, c.failed, c.dead);
                tracing::info!(queue, pending, running, failed, dead, "job queue");
            }
        }
        Err(error) => tracing::warn!(%error, "cannot count jobs"),
    }
}
