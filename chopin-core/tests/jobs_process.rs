//! Worker processes (`examples/jobs_worker.rs`, `JOBS_ONLY=on`) killed and stopped while
//! they run a thousand jobs, on SQLite and on PostgreSQL: `kill -9` loses no job (those
//! it was running run again once their lease expires, and are counted), SIGTERM lets the
//! running jobs finish or returns them and exits 0, and a restart runs the rest.

mod common;

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use chopin_core::{App, AppState, Config, jobs::Job};
use common::{example, postgres::cluster};
use serde::{Deserialize, Serialize};

const JOBS: i64 = 1000;
const WORKERS: i64 = 8;
/// Longer than a job's lease (its 2 s timeout and 5 s), with room for a slow machine.
const LIMIT: Duration = Duration::from_secs(60);

/// The example's job, as it is stored.
#[derive(Serialize, Deserialize)]
struct Record {
    key: String,
    work_ms: u64,
}

impl Job for Record {
    const NAME: &'static str = "record";
    /// Stored with each job: its lease is this and 5 s.
    const TIMEOUT: Duration = Duration::from_secs(2);

    async fn run(self, _: AppState) -> Result<(), chopin_core::jobs::JobError> {
        unreachable!("the worker process runs it")
    }
}

fn start_worker(url: &str, log: &str) -> Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new(example("jobs_worker"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .env("JOBS_ONLY", "on")
        .env("JOBS_WORKERS", WORKERS.to_string())
        .env("SHUTDOWN_TIMEOUT_SECS", "10")
        .env("RUST_LOG", "info")
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// (distinct keys run, runs in all).
async fn progress(state: &AppState) -> (i64, i64) {
    sqlx::query_as("SELECT COUNT(DISTINCT key), COUNT(*) FROM job_runs")
        .fetch_one(state.db())
        .await
        .unwrap()
}

async fn until(state: &AppState, what: &str, done: impl Fn((i64, i64)) -> bool) -> (i64, i64) {
    let started = Instant::now();
    loop {
        let now = progress(state).await;
        if done(now) {
            return now;
        }
        assert!(
            started.elapsed() < LIMIT,
            "timed out waiting for {what}: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The ids of the jobs marked running.
async fn running(state: &AppState) -> Vec<i64> {
    sqlx::query_scalar("SELECT id FROM chopin_jobs WHERE state = 'running' ORDER BY id")
        .fetch_all(state.db())
        .await
        .unwrap()
}

fn exit_code_within(child: &mut Child, limit: Duration) -> Option<i32> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(
            started.elapsed() < limit,
            "the worker did not exit within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn kill_and_stop_while_running(url: String, label: &str) {
    let mut config = Config::default();
    config.database_url = url.parse().unwrap();
    let state = App::with_config(config).await.unwrap().state().clone();
    sqlx::query("CREATE TABLE job_runs (key TEXT NOT NULL, at BIGINT NOT NULL)")
        .execute(state.db())
        .await
        .unwrap();
    let mut tx = state.db().begin().await.unwrap();
    for n in 0..JOBS {
        let job = Record {
            key: format!("job {n}"),
            work_ms: 5,
        };
        state.jobs().enqueue(job).on(&mut tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    let log = |n: u32| {
        format!(
            "{}/chopin-{label}-{n}-{}.log",
            std::env::temp_dir().display(),
            std::process::id()
        )
    };

    // kill -9 in the middle of the work.
    let mut worker = start_worker(&url, &log(1));
    until(&state, "a first share of the jobs", |(done, _)| done >= 200).await;
    worker.kill().unwrap();
    worker.wait().unwrap();
    let (killed_at, _) = progress(&state).await;
    assert!(killed_at < JOBS, "{label}: killed before the end");
    // What the kill left claimed: the jobs it was running, and those it had finished but
    // not yet recorded. Only these may run twice.
    let orphans = running(&state).await;

    // SIGTERM in the middle of the rest: running jobs finish or go back; exit code 0.
    let mut worker = start_worker(&url, &log(2));
    until(&state, "more jobs after the restart", |(done, _)| {
        done >= killed_at + 200
    })
    .await;
    let status = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = exit_code_within(&mut worker, Duration::from_secs(15));
    let log2 = std::fs::read_to_string(log(2)).unwrap_or_default();
    assert_eq!(
        code,
        Some(0),
        "{label}: exit code after SIGTERM; log:\n{log2}"
    );
    let left = running(&state).await;
    assert!(
        left.iter().all(|id| orphans.contains(id)),
        "{label}: a clean stop leaves only the killed worker's jobs running: {left:?}, {orphans:?}"
    );

    // The next worker runs the rest, and the jobs the kill left are run again after their
    // lease.
    let mut worker = start_worker(&url, &log(3));
    let (done, _) = until(&state, "every job", |(done, _)| done == JOBS).await;
    let started = Instant::now();
    loop {
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chopin_jobs")
            .fetch_one(state.db())
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        assert!(
            started.elapsed() < LIMIT,
            "{label}: {left} jobs left after they all ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, runs) = progress(&state).await;
    worker.kill().unwrap();
    worker.wait().unwrap();
    assert_eq!(done, JOBS, "{label}: every job ran, none is left");
    let twice = runs - JOBS;
    let orphaned = orphans.len() as i64;
    assert!(
        twice <= orphaned,
        "{label}: {twice} jobs ran twice, {orphaned} were left claimed"
    );
    println!(
        "{label}: {JOBS} jobs, {orphaned} left claimed by the kill, {twice} of them ran twice"
    );
}

#[tokio::test]
async fn sqlite_worker_processes_lose_no_job_to_kill_or_sigterm() {
    let dir = std::env::temp_dir().join(format!("chopin-jobs-process-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("app.db").display());
    kill_and_stop_while_running(url, "sqlite").await;
}

#[tokio::test]
async fn postgres_worker_processes_lose_no_job_to_kill_or_sigterm() {
    kill_and_stop_while_running(cluster().fresh_database(), "postgres").await;
}
