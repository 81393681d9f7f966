//! One run of the jobs benchmark (bench/jobs.sh): `bench-jobs chopin|loop DATABASE_URL`.
//!
//! Enqueues `JOBS` empty jobs one by one (enqueued per second), then starts `WORKERS`
//! workers and times them through the backlog (completed per second), then enqueues
//! `LATENCY` jobs one at a time into the idle queue and times each from its enqueue to
//! the start of its run. `chopin` is Chopin's queue; `loop` is the minimal queue written
//! by hand on the same pool: an INSERT, a claim of one row (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL) and an UPDATE, its workers polling every 10 ms when the queue is empty.
//! `ANALYZE=1` analyzes the PostgreSQL tables between the backlog and the workers.
//! Prints one JSON line.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use chopin_core::{
    App, AppState, Config, Db,
    jobs::{Job, JobError},
    serde::{Deserialize, Serialize},
    sqlx,
};
use tokio::sync::Notify;

static DONE: AtomicUsize = AtomicUsize::new(0);
static STARTS: Mutex<Vec<f64>> = Mutex::new(Vec::new());
static RAN: Notify = Notify::const_new();

fn micros() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(now.as_micros()).unwrap_or(u64::MAX)
}

/// What every job does: note how long after its enqueue it started.
fn ran(enqueued_at: u64) {
    let waited = micros().saturating_sub(enqueued_at) as f64 / 1000.0;
    STARTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(waited);
    DONE.fetch_add(1, Ordering::SeqCst);
    RAN.notify_one();
}

#[derive(Serialize, Deserialize)]
#[serde(crate = "chopin_core::serde")]
struct Empty {
    enqueued_at: u64,
}

impl Job for Empty {
    const NAME: &'static str = "bench_empty";

    async fn run(self, _: AppState) -> Result<(), JobError> {
        ran(self.enqueued_at);
        Ok(())
    }
}

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn until_done(n: usize) {
    while DONE.load(Ordering::SeqCst) < n {
        let _ = tokio::time::timeout(Duration::from_millis(100), RAN.notified()).await;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(queue), Some(url)) = (args.get(1), args.get(2)) else {
        return Err("usage: bench-jobs chopin|loop DATABASE_URL".into());
    };
    let (jobs, workers, latency) = (
        setting("JOBS", 10_000),
        setting("WORKERS", 8),
        setting("LATENCY", 200),
    );
    let workers_text = workers.to_string();
    let config = Config::from_vars([
        ("DATABASE_URL", url.as_str()),
        ("SERVER_PORT", "0"),
        ("JOBS_WORKERS", workers_text.as_str()),
        ("DATABASE_MAX_CONNECTIONS", "16"),
    ])?;
    let app = App::with_config(config).await?.job::<Empty>();
    let state = app.state().clone();
    let postgres = url.starts_with("postgres");
    let hand = Hand::new(state.db().clone(), postgres).await?;

    let started = Instant::now();
    for _ in 0..jobs {
        let job = Empty {
            enqueued_at: micros(),
        };
        match queue.as_str() {
            "chopin" => drop(state.jobs().enqueue(job).await?),
            _ => hand.enqueue(job.enqueued_at).await?,
        }
    }
    let enqueued = jobs as f64 / started.elapsed().as_secs_f64();
    let analyze = postgres && std::env::var("ANALYZE").is_ok_and(|v| v == "1");
    if analyze {
        // The backlog as autovacuum would describe it a minute later: without statistics
        // PostgreSQL plans both claims for a nearly empty table.
        sqlx::raw_sql("ANALYZE chopin_jobs; ANALYZE bench_jobs")
            .execute(state.db())
            .await?;
    }

    let started = Instant::now();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = match queue.as_str() {
        "chopin" => {
            let server = app.bind().await?;
            tokio::spawn(server.serve(async move {
                let _ = stopped.await;
            }))
        }
        _ => {
            for _ in 0..workers {
                tokio::spawn(hand.clone().work());
            }
            tokio::spawn(async move {
                let _ = stopped.await;
                Ok(())
            })
        }
    };
    until_done(jobs).await;
    let completed = jobs as f64 / started.elapsed().as_secs_f64();

    STARTS.lock().unwrap_or_else(|e| e.into_inner()).clear();
    for n in 1..=latency {
        let job = Empty {
            enqueued_at: micros(),
        };
        match queue.as_str() {
            "chopin" => drop(state.jobs().enqueue(job).await?),
            _ => hand.enqueue(job.enqueued_at).await?,
        }
        until_done(jobs + n).await;
    }
    let mut starts = STARTS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    starts.sort_by(f64::total_cmp);
    let at = |q: f64| starts[((starts.len() - 1) as f64 * q).round() as usize];
    println!(
        "{{\"queue\":\"{queue}\",\"backend\":\"{}\",\"jobs\":{jobs},\"workers\":{workers},\"enqueued_per_s\":{enqueued:.0},\"completed_per_s\":{completed:.0},\"start_p50_ms\":{:.2},\"start_p99_ms\":{:.2}}}",
        match (postgres, analyze) {
            (true, true) => "postgres, analyzed",
            (true, false) => "postgres",
            _ => "sqlite",
        },
        at(0.5),
        at(0.99)
    );
    STOP.store(true, Ordering::SeqCst);
    let _ = stop.send(());
    server.await??;
    Ok(())
}

static STOP: AtomicBool = AtomicBool::new(false);

/// The hand-written queue: one table, one INSERT per job, one claim statement, one UPDATE.
#[derive(Clone)]
struct Hand {
    db: Db,
    claim: &'static str,
}

impl Hand {
    async fn new(db: Db, postgres: bool) -> Result<Self, sqlx::Error> {
        let id = if postgres {
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
        } else {
            "INTEGER PRIMARY KEY AUTOINCREMENT"
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE IF NOT EXISTS bench_jobs (id {id}, payload TEXT NOT NULL, \
             state TEXT NOT NULL DEFAULT 'pending'); \
             CREATE INDEX IF NOT EXISTS bench_jobs_pending ON bench_jobs (state, id)"
        )))
        .execute(&db)
        .await?;
        let claim = if postgres {
            "UPDATE bench_jobs SET state = 'running' WHERE id = (SELECT id FROM bench_jobs \
             WHERE state = 'pending' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING id, payload"
        } else {
            "UPDATE bench_jobs SET state = 'running' WHERE id = (SELECT id FROM bench_jobs \
             WHERE state = 'pending' ORDER BY id LIMIT 1) RETURNING id, payload"
        };
        Ok(Self { db, claim })
    }

    async fn enqueue(&self, enqueued_at: u64) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO bench_jobs (payload) VALUES ($1)")
            .bind(enqueued_at.to_string())
            .execute(&self.db)
            .await?;
        Ok(())
    }

    async fn work(self) {
        while !STOP.load(Ordering::SeqCst) {
            let claimed: Result<Option<(i64, String)>, _> =
                sqlx::query_as(self.claim).fetch_optional(&self.db).await;
            let Ok(Some((id, payload))) = claimed else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            ran(payload.parse().unwrap_or(0));
            let _ = sqlx::query("UPDATE bench_jobs SET state = 'done' WHERE id = $1")
                .bind(id)
                .execute(&self.db)
                .await;
        }
    }
}
