//! Background jobs on a real SQLite file and a real PostgreSQL, run by the workers of a
//! served app in both modes: the outbox guarantee, retries and dead jobs, timeouts and
//! panics, unique keys, delays, expired leases, the drain, and two instances sharing one
//! queue.

mod common;

use std::{
    collections::HashSet,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use chopin_core::{
    App, AppState, Config, ServerMode,
    jobs::{Job, JobError, Schedule},
};
use common::{config_in, postgres::cluster, start_app, within};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// Keys whose run is in progress, across every app of this test binary: a key found here
/// when its run starts is a job running twice at once.
static RUNNING: Mutex<Option<HashSet<String>>> = Mutex::new(None);
static OVERLAPS: AtomicUsize = AtomicUsize::new(0);

/// Records each run in `job_runs`, with the time it started.
#[derive(Serialize, Deserialize)]
struct Record {
    key: String,
}

impl Job for Record {
    const NAME: &'static str = "record";

    async fn run(self, state: AppState) -> Result<(), JobError> {
        let first = RUNNING
            .lock()
            .unwrap()
            .get_or_insert_default()
            .insert(self.key.clone());
        if !first {
            OVERLAPS.fetch_add(1, Ordering::SeqCst);
        }
        let recorded = sqlx::query("INSERT INTO job_runs (key, at) VALUES ($1, $2)")
            .bind(&self.key)
            .bind(millis())
            .execute(state.db())
            .await;
        RUNNING
            .lock()
            .unwrap()
            .get_or_insert_default()
            .remove(&self.key);
        recorded?;
        Ok(())
    }
}

/// Fails every time, after recording the run.
#[derive(Serialize, Deserialize)]
struct Fails {
    key: String,
}

impl Job for Fails {
    const NAME: &'static str = "fails";
    const MAX_ATTEMPTS: u32 = 3;

    fn backoff(_attempt: u32) -> Duration {
        Duration::from_millis(200)
    }

    async fn run(self, state: AppState) -> Result<(), JobError> {
        Record { key: self.key }.run(state).await?;
        Err("the mail server said no".into())
    }
}

#[derive(Serialize, Deserialize)]
struct Panics;

impl Job for Panics {
    const NAME: &'static str = "panics";
    const MAX_ATTEMPTS: u32 = 1;

    async fn run(self, _: AppState) -> Result<(), JobError> {
        panic!("the job's own panic")
    }
}

/// Records that it started, then waits until `RELEASE` is at least its `turn`.
#[derive(Serialize, Deserialize)]
struct Waits {
    key: String,
    turn: u32,
}

static RELEASE: std::sync::LazyLock<watch::Sender<u32>> =
    std::sync::LazyLock::new(|| watch::Sender::new(0));

impl Job for Waits {
    const NAME: &'static str = "waits";
    const MAX_ATTEMPTS: u32 = 1;
    const TIMEOUT: Duration = Duration::from_secs(600);

    async fn run(self, state: AppState) -> Result<(), JobError> {
        Record {
            key: format!("{} started", self.key),
        }
        .run(state.clone())
        .await?;
        let mut release = RELEASE.subscribe();
        release.wait_for(|turn| *turn >= self.turn).await?;
        Record { key: self.key }.run(state).await
    }
}

fn millis() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    since.as_millis() as i64
}

/// A fresh database of each backend: an SQLite file and a PostgreSQL database.
fn databases() -> Vec<(&'static str, String)> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("chopin-jobs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{n}.db"));
    vec![
        ("sqlite", format!("sqlite:{}", file.display())),
        ("postgres", cluster().fresh_database()),
    ]
}

fn config(mode: ServerMode, url: &str) -> Config {
    let mut config = config_in(mode);
    config.database_url = url.parse().unwrap();
    config.shutdown_timeout = Duration::from_secs(1);
    config
}

async fn app(config: Config) -> App {
    let app = App::with_config(config).await.expect("app");
    sqlx::query("CREATE TABLE IF NOT EXISTS job_runs (key TEXT NOT NULL, at BIGINT NOT NULL)")
        .execute(app.state().db())
        .await
        .unwrap();
    app.job::<Record>()
        .job::<Fails>()
        .job::<Panics>()
        .job::<Waits>()
}

/// How many times `key` has run.
async fn runs(state: &AppState, key: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM job_runs WHERE key = $1")
        .bind(key)
        .fetch_one(state.db())
        .await
        .unwrap()
}

/// Waits until `key` has run `n` times.
async fn ran(state: &AppState, key: &str, n: i64) {
    within(&format!("{key} to run {n} times"), async {
        while runs(state, key).await < n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// The job `id`'s (state, attempts, last error), or `None` once it is done.
async fn job(state: &AppState, id: i64) -> Option<(String, i64, Option<String>)> {
    sqlx::query_as("SELECT state, attempts, last_error FROM chopin_jobs WHERE id = $1")
        .bind(id)
        .fetch_optional(state.db())
        .await
        .unwrap()
}

/// Waits until the job `id` is done (and so deleted).
async fn gone(state: &AppState, id: i64) {
    within(&format!("job {id} to be done"), async {
        while job(state, id).await.is_some() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

async fn until_state(state: &AppState, id: i64, wanted: &str) -> (String, i64, Option<String>) {
    within(&format!("job {id} to be {wanted}"), async {
        loop {
            match job(state, id).await {
                Some(row) if row.0 == wanted => return row,
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await
}

#[tokio::test]
async fn a_job_enqueued_in_a_rolled_back_transaction_never_runs_and_a_committed_one_does() {
    for (backend, url) in databases() {
        for mode in [ServerMode::Standard, ServerMode::Performance] {
            let app = app(config(mode, &url)).await;
            let state = app.state().clone();
            let server = start_app(app).await;
            let (rolled_back, committed) = (
                format!("rolled back {mode:?}"),
                format!("committed {mode:?}"),
            );

            let mut tx = state.db().begin().await.unwrap();
            let record = Record {
                key: rolled_back.clone(),
            };
            let id = state.jobs().enqueue(record).on(&mut tx).await.unwrap();
            assert!(id.is_some());
            tx.rollback().await.unwrap();

            let mut tx = state.db().begin().await.unwrap();
            let record = Record {
                key: committed.clone(),
            };
            let id = state.jobs().enqueue(record).on(&mut tx).await.unwrap();
            tx.commit().await.unwrap();

            ran(&state, &committed, 1).await;
            // A finished job's row is deleted by the worker's next batch, after its run.
            gone(&state, id.unwrap()).await;
            assert_eq!(runs(&state, &rolled_back).await, 0, "{backend} {mode:?}");
            let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chopin_jobs")
                .fetch_one(state.db())
                .await
                .unwrap();
            assert_eq!(stored, 0, "{backend}: the rolled-back job was never stored");
            server.shutdown().await.unwrap();
        }
    }
}

#[tokio::test]
async fn a_failing_job_is_retried_with_backoff_then_kept_dead_with_its_error() {
    for (backend, url) in databases() {
        let app = app(config(ServerMode::Standard, &url)).await;
        let state = app.state().clone();
        let server = start_app(app).await;

        let key = "fails".to_owned();
        let id = state.jobs().enqueue(Fails { key: key.clone() });
        let id = id.await.unwrap().unwrap();
        let (_, attempts, error) = until_state(&state, id, "dead").await;
        assert_eq!(attempts, 3, "{backend}");
        assert_eq!(
            error.as_deref(),
            Some("the mail server said no"),
            "{backend}"
        );
        let at: Vec<i64> = sqlx::query_scalar("SELECT at FROM job_runs WHERE key = $1 ORDER BY at")
            .bind(&key)
            .fetch_all(state.db())
            .await
            .unwrap();
        assert_eq!(at.len(), 3, "{backend}: one run per attempt");
        for pair in at.windows(2) {
            assert!(
                pair[1] - pair[0] >= 200,
                "{backend}: backoff between runs: {at:?}"
            );
        }

        let counts = state.jobs().counts().await.unwrap();
        assert_eq!(counts.len(), 1, "{backend}: {counts:?}");
        assert_eq!((counts[0].queue.as_str(), counts[0].dead), ("default", 1));
        let dead = state.jobs().dead(10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!((dead[0].id, dead[0].name.as_str()), (id, "fails"));
        assert_eq!(dead[0].payload, r#"{"key":"fails"}"#);

        // Retried from code, it gets three more attempts.
        assert!(state.jobs().retry(id).await.unwrap());
        ran(&state, &key, 6).await;
        let (_, attempts, _) = until_state(&state, id, "dead").await;
        assert_eq!(attempts, 3, "{backend}");
        assert!(!state.jobs().retry(id + 1000).await.unwrap());

        assert!(state.jobs().discard(id).await.unwrap());
        assert_eq!(job(&state, id).await, None);
        assert!(!state.jobs().discard(id).await.unwrap());
        server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_panicking_or_slow_job_fails_its_attempt_and_the_workers_go_on() {
    for (backend, url) in databases() {
        let app = app(config(ServerMode::Performance, &url)).await;
        let state = app.state().clone();
        let server = start_app(app).await;

        let panics = state.jobs().enqueue(Panics).await.unwrap().unwrap();
        let slow = Waits {
            key: "never released".to_owned(),
            turn: u32::MAX,
        };
        let slow = state
            .jobs()
            .enqueue(slow)
            .timeout(Duration::from_millis(300));
        let slow = slow.await.unwrap().unwrap();

        let (_, _, error) = until_state(&state, panics, "dead").await;
        assert_eq!(
            error.as_deref(),
            Some("panicked: the job's own panic"),
            "{backend}"
        );
        let (_, _, error) = until_state(&state, slow, "dead").await;
        assert_eq!(error.as_deref(), Some("timed out after 300ms"), "{backend}");

        let after = Record {
            key: "after the panic".to_owned(),
        };
        state.jobs().enqueue(after).await.unwrap();
        ran(&state, "after the panic", 1).await;
        server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_unique_key_stores_one_job_while_it_waits_and_a_delayed_job_waits_its_turn() {
    for (backend, url) in databases() {
        let app = App::with_config(config(ServerMode::Standard, &url)).await;
        // No worker runs: the jobs stay pending.
        let state = app.unwrap().state().clone();
        let record = |key: &str| Record {
            key: key.to_owned(),
        };

        let first = state.jobs().enqueue(record("a")).unique("sync:1").await;
        let second = state.jobs().enqueue(record("b")).unique("sync:1").await;
        let other = state.jobs().enqueue(record("c")).unique("sync:2").await;
        assert!(first.unwrap().is_some(), "{backend}");
        assert_eq!(second.unwrap(), None, "{backend}: same key, nothing stored");
        assert!(other.unwrap().is_some(), "{backend}");

        let later = state.jobs().enqueue(record("later"));
        let later = later
            .after(Duration::from_secs(3600))
            .queue("mail")
            .priority(-1);
        let later = later.await.unwrap().unwrap();
        let (run_at, queue, priority): (i64, String, i64) =
            sqlx::query_as("SELECT run_at, queue, priority FROM chopin_jobs WHERE id = $1")
                .bind(later)
                .fetch_one(state.db())
                .await
                .unwrap();
        assert!(run_at > millis() + 3_500_000, "{backend}");
        assert_eq!((queue.as_str(), priority), ("mail", -1));
        let counts = state.jobs().counts().await.unwrap();
        let pending: Vec<_> = counts
            .iter()
            .map(|c| (c.queue.as_str(), c.pending))
            .collect();
        assert_eq!(pending, [("default", 2), ("mail", 1)], "{backend}");
    }
}

#[tokio::test]
async fn a_job_whose_worker_died_runs_again_when_its_lease_expires() {
    for (backend, url) in databases() {
        let app = app(config(ServerMode::Standard, &url)).await;
        let state = app.state().clone();
        // What a worker killed mid-run leaves: a running job, its lease run out.
        let record = Record {
            key: "orphan".to_owned(),
        };
        let id = state
            .jobs()
            .enqueue(record)
            .after(Duration::from_secs(3600));
        let id = id.await.unwrap().unwrap();
        sqlx::query(
            "UPDATE chopin_jobs SET state = 'running', attempts = 1, lease_until = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(millis() - 1)
        .execute(state.db())
        .await
        .unwrap();

        let server = start_app(app).await;
        ran(&state, "orphan", 1).await;
        gone(&state, id).await;
        assert_eq!(runs(&state, "orphan").await, 1, "{backend}: once");
        server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn shutdown_lets_running_jobs_finish_within_the_deadline_and_returns_the_rest() {
    for (backend, url) in databases() {
        let turn = RELEASE.borrow().saturating_add(1);
        let first = app(config(ServerMode::Standard, &url)).await;
        let state = first.state().clone();
        let mut server = start_app(first).await;
        let finishes = Waits {
            key: format!("finishes {turn}"),
            turn,
        };
        let finishes = state.jobs().enqueue(finishes).await.unwrap().unwrap();
        let returned = Waits {
            key: format!("returned {turn}"),
            turn: turn + 1,
        };
        let returned = state.jobs().enqueue(returned).await.unwrap().unwrap();
        ran(&state, &format!("finishes {turn} started"), 1).await;
        ran(&state, &format!("returned {turn} started"), 1).await;

        server.begin_shutdown().await;
        RELEASE.send_replace(turn);
        ran(&state, &format!("finishes {turn}"), 1).await;
        gone(&state, finishes).await;
        let started = Instant::now();
        server.shutdown().await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(5), "{backend}");
        let back = job(&state, returned).await;
        assert_eq!(
            back,
            Some(("pending".to_owned(), 0, None)),
            "{backend}: back in the queue"
        );

        // The next run of the app finishes it.
        let server = start_app(app(config(ServerMode::Standard, &url)).await).await;
        RELEASE.send_replace(turn + 1);
        ran(&state, &format!("returned {turn}"), 1).await;
        server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn two_instances_on_one_postgresql_share_the_jobs_and_run_each_once() {
    const JOBS: usize = 1000;
    let url = cluster().fresh_database();
    let mut config = config(ServerMode::Standard, &url);
    config.jobs_workers = 8;
    let one = app(config.clone()).await;
    let two = app(config).await;
    let state = one.state().clone();
    let (one, two) = (start_app(one).await, start_app(two).await);

    let mut tx = state.db().begin().await.unwrap();
    for n in 0..JOBS {
        let record = Record {
            key: format!("shared {n}"),
        };
        state.jobs().enqueue(record).on(&mut tx).await.unwrap();
    }
    tx.commit().await.unwrap();

    within("every shared job to run", async {
        loop {
            let done: i64 = sqlx::query_scalar(
                "SELECT COUNT(DISTINCT key) FROM job_runs WHERE key LIKE 'shared %'",
            )
            .fetch_one(state.db())
            .await
            .unwrap();
            if done as usize == JOBS {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let runs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM job_runs WHERE key LIKE 'shared %'")
        .fetch_one(state.db())
        .await
        .unwrap();
    assert_eq!(runs as usize, JOBS, "each job ran once");
    assert_eq!(
        OVERLAPS.load(Ordering::SeqCst),
        0,
        "no job ran twice at once"
    );
    one.shutdown().await.unwrap();
    two.shutdown().await.unwrap();
}

fn millis_of(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn tick_record(prefix: &'static str) -> impl Fn(SystemTime) -> Record + Send + Sync + 'static {
    move |tick| Record {
        key: format!("{prefix} {}", millis_of(tick)),
    }
}

#[tokio::test]
async fn a_schedule_fires_once_per_tick_across_two_instances_on_one_postgresql() {
    const TICKS: i64 = 4;
    let url = cluster().fresh_database();
    let every_second = || Schedule::cron("* * * * * *").unwrap();
    let one = app(config(ServerMode::Standard, &url)).await;
    let one = one.schedule(every_second(), tick_record("second"));
    let two = app(config(ServerMode::Performance, &url)).await;
    let two = two.schedule(every_second(), tick_record("second"));
    let state = one.state().clone();
    let (one, two) = (start_app(one).await, start_app(two).await);

    within("the schedule to tick four times", async {
        loop {
            let ticks: i64 = sqlx::query_scalar(
                "SELECT COUNT(DISTINCT key) FROM job_runs WHERE key LIKE 'second %'",
            )
            .fetch_one(state.db())
            .await
            .unwrap();
            if ticks >= TICKS {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    one.shutdown().await.unwrap();
    two.shutdown().await.unwrap();
    let runs: Vec<(String, i64)> = sqlx::query_as(
        "SELECT key, COUNT(*) FROM job_runs WHERE key LIKE 'second %' GROUP BY key ORDER BY key",
    )
    .fetch_all(state.db())
    .await
    .unwrap();
    assert!(runs.len() as i64 >= TICKS, "{runs:?}");
    for (key, n) in &runs {
        assert_eq!(*n, 1, "{key} ran {n} times: {runs:?}");
        let tick: i64 = key["second ".len()..].parse().unwrap();
        assert_eq!(tick % 1000, 0, "ticks fall on whole seconds: {key}");
    }
}

#[tokio::test]
async fn after_downtime_the_latest_missed_tick_runs_once_and_a_new_schedule_waits() {
    for (backend, url) in databases() {
        let app = app(config(ServerMode::Standard, &url)).await;
        let state = app.state().clone();
        // The hourly schedule last ran three hours ago; the daily one is new.
        let hour = 3_600_000;
        let three_hours_ago = millis() - 3 * hour;
        sqlx::query("INSERT INTO chopin_schedules (name, last_tick) VALUES ($1, $2)")
            .bind("record@0 * * * *")
            .bind(three_hours_ago)
            .execute(state.db())
            .await
            .unwrap();
        let app = app
            .schedule(Schedule::cron("0 * * * *").unwrap(), tick_record("hourly"))
            .schedule(Schedule::cron("@daily").unwrap(), tick_record("daily"));
        let server = start_app(app).await;

        let latest_hour = millis() / hour * hour;
        ran(&state, &format!("hourly {latest_hour}"), 1).await;
        server.shutdown().await.unwrap();
        let ran: Vec<(String,)> = sqlx::query_as(
            "SELECT key FROM job_runs WHERE key LIKE 'hourly %' OR key LIKE 'daily %'",
        )
        .fetch_all(state.db())
        .await
        .unwrap();
        assert_eq!(
            ran,
            [(format!("hourly {latest_hour}"),)],
            "{backend}: one catch-up run"
        );
        let (daily,): (i64,) =
            sqlx::query_as("SELECT last_tick FROM chopin_schedules WHERE name = 'record@@daily'")
                .fetch_one(state.db())
                .await
                .unwrap();
        assert!(
            daily > three_hours_ago,
            "{backend}: a new schedule starts when added"
        );
    }
}

#[test]
fn a_malformed_cron_pattern_is_an_error_that_shows_it() {
    let error = Schedule::cron("61 * * * *").unwrap_err();
    assert!(error.is_config());
    assert!(
        error
            .to_string()
            .starts_with("invalid cron pattern \"61 * * * *\": "),
        "{error}"
    );
}
