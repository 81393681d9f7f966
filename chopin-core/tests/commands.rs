//! An application binary's commands (`examples/commands.rs`, built on `Project::main`)
//! run as a user runs them: `jobs` on a job its own workers left dead, `jobs retry` and
//! `jobs discard` on it, on SQLite and on PostgreSQL; `doctor` against a real SMTP
//! server, one that does not answer, and a database that is down.
//!
//! `cargo test` builds the example; run alone, build it first (see `common::example`):
//! `cargo build -p chopin-core --example commands && cargo test -p chopin-core --test commands`.

mod common;
#[path = "common/markdown.rs"]
#[allow(dead_code, unreachable_pub)]
mod markdown;
#[path = "common/tools.rs"]
#[allow(dead_code, unreachable_pub)]
mod tools;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use chopin_core::{App, AppState, Config, jobs::Job};
use common::{example, postgres::cluster};
use markdown::run_within;
use serde::{Deserialize, Serialize};
use tools::{SmtpServer, free_port};

/// Generous for a command that opens a database and prints a few lines.
const LIMIT: Duration = Duration::from_secs(60);

/// The example's job, as it is stored.
#[derive(Serialize, Deserialize)]
struct Refused {
    to: String,
}

impl Job for Refused {
    const NAME: &'static str = "refused";
    const MAX_ATTEMPTS: u32 = 1;

    async fn run(self, _: AppState) -> Result<(), chopin_core::jobs::JobError> {
        unreachable!("the example's workers run it")
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chopin-commands-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The binary with nothing of this environment but `PATH`, in `dir` (so no `.env` of
/// the workspace is read), and `vars`.
fn command(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> Command {
    let mut command = Command::new(example("commands"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(vars.iter().copied())
        .args(args)
        .current_dir(dir);
    command
}

/// Runs a command: (succeeded, stdout, stderr).
fn run(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    run_within(command(dir, vars, args), LIMIT)
}

/// Serves with `JOBS_ONLY=on` until its log says the job `id` is dead, then stops it
/// with SIGTERM and waits for it to exit 0.
fn work_until_dead(dir: &Path, url: &str, id: i64) {
    let mut worker = command(dir, &[("DATABASE_URL", url), ("JOBS_ONLY", "on")], &[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the example");
    let pid = worker.id().to_string();
    let stderr = worker.stderr.take().expect("piped");
    let (lines, log) = mpsc::channel();
    let (exit, exited) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
        let _ = exit.send(worker.wait());
    });
    let fail = |what: &str| -> ! {
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
        panic!("{what} within {LIMIT:?}")
    };
    let dead = format!("id={id} ");
    let deadline = Instant::now() + LIMIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match log.recv_timeout(left) {
            Ok(line) if line.contains("is dead") && line.contains(&dead) => break,
            Ok(_) => {}
            Err(_) => fail(&format!("no log line saying job {id} is dead")),
        }
    }
    let term = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(term.success());
    // The rest of the log goes to the reader, which waits for the exit after it.
    drop(log);
    match exited.recv_timeout(LIMIT) {
        Ok(status) => {
            let status = status.unwrap();
            assert!(status.success(), "stopped by SIGTERM: {status:?}");
        }
        Err(_) => fail("the example did not stop"),
    }
}

fn row_of<'a>(out: &'a str, start: &str) -> Vec<&'a str> {
    out.lines()
        .find(|line| line.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in\n{out}"))
        .split_whitespace()
        .collect()
}

#[tokio::test]
async fn jobs_lists_a_dead_job_retries_it_and_discards_it() {
    let dir = scratch("jobs");
    let sqlite = format!("sqlite:{}", dir.join("app.db").display());
    for (backend, url) in [("sqlite", sqlite), ("postgres", cluster().fresh_database())] {
        let vars = [("DATABASE_URL", url.as_str())];
        let (ok, out, err) = run(&dir, &vars, &["jobs"]);
        assert!(ok, "{backend}: {err}");
        assert!(out.contains("(no jobs)"), "{backend}: {out}");

        let mut config = Config::default();
        config.database_url = url.parse().unwrap();
        let state = App::with_config(config).await.unwrap().state().clone();
        let job = Refused {
            to: "ada@example.com".into(),
        };
        let id = state.jobs().enqueue(job).await.unwrap().unwrap();
        let (ok, out, _) = run(&dir, &vars, &["jobs"]);
        assert!(ok);
        assert_eq!(row_of(&out, "default"), ["default", "1", "0", "0", "0"]);

        work_until_dead(&dir, &url, id);
        let (ok, out, err) = run(&dir, &vars, &["jobs"]);
        assert!(ok, "{backend}: {err}");
        assert_eq!(row_of(&out, "default"), ["default", "0", "0", "0", "1"]);
        assert!(out.contains("chopin jobs retry ID"), "{backend}: {out}");
        let dead = row_of(&out, &format!("{id:>6}"));
        assert_eq!(
            dead.join(" "),
            format!(
                "{id} refused queue default 1 attempts the mail server refused ada@example.com"
            ),
            "{backend}"
        );

        // Only a dead job is discarded or retried: a wrong id changes nothing.
        let other = (id + 1000).to_string();
        for action in ["retry", "discard"] {
            let (ok, out, err) = run(&dir, &vars, &["jobs", action, &other]);
            assert!(!ok && out.is_empty(), "{backend} {action}: {out}");
            assert_eq!(
                err.trim_end(),
                format!("error: no dead job {other} (`chopin jobs` lists them)"),
                "{backend}"
            );
        }
        let (ok, _, err) = run(&dir, &vars, &["jobs", "retry", "seven"]);
        assert!(!ok && err.contains("invalid value 'seven'"), "{err}");

        let (ok, out, err) = run(&dir, &vars, &["jobs", "retry", &id.to_string()]);
        assert!(ok, "{backend}: {err}");
        assert_eq!(out.trim_end(), format!("job {id} will run again"));
        let (_, out, _) = run(&dir, &vars, &["jobs"]);
        assert_eq!(row_of(&out, "default"), ["default", "1", "0", "0", "0"]);
        assert!(!out.contains("dead jobs"), "{backend}: {out}");
        // Pending, it is not discarded.
        let (ok, ..) = run(&dir, &vars, &["jobs", "discard", &id.to_string()]);
        assert!(!ok, "{backend}");

        work_until_dead(&dir, &url, id);
        let (ok, out, err) = run(&dir, &vars, &["jobs", "discard", &id.to_string()]);
        assert!(ok, "{backend}: {err}");
        assert_eq!(out.trim_end(), format!("job {id} discarded"));
        let (_, out, _) = run(&dir, &vars, &["jobs"]);
        assert!(out.contains("(no jobs)"), "{backend}: {out}");
        state.db().close().await;
    }
}

/// The line `doctor` printed for `check`.
fn check<'a>(out: &'a str, check: &str) -> &'a str {
    out.lines()
        .find(|line| line.split_whitespace().nth(1) == Some(&format!("{check}:")))
        .unwrap_or_else(|| panic!("no {check} line in\n{out}"))
}

#[tokio::test]
async fn doctor_checks_the_smtp_server_and_the_database() {
    let dir = scratch("doctor");
    let url = format!("sqlite:{}", dir.join("app.db").display());
    let (ok, _, err) = run(&dir, &[("DATABASE_URL", &url)], &["db", "migrate"]);
    assert!(ok, "{err}");

    let port = free_port();
    let smtp_url = format!("smtp://127.0.0.1:{port}");
    let smtp = SmtpServer::start(port, None);
    let vars = [("DATABASE_URL", url.as_str()), ("SMTP_URL", &smtp_url)];
    let (ok, out, err) = run(&dir, &vars, &["doctor"]);
    assert!(ok, "{out}{err}");
    drop(smtp);
    assert_eq!(
        check(&out, "mail"),
        format!("ok    mail: {smtp_url} answers")
    );
    assert_eq!(check(&out, "database"), "ok    database: reachable");
    assert_eq!(check(&out, "migrations"), "ok    migrations: all applied");
    // Development: an unset secret is a warning, not a failure.
    assert!(check(&out, "JWT_SECRET").starts_with("warn  JWT_SECRET: not set"));

    // The server gone, the same check fails, saying what to do.
    let (ok, out, err) = run(&dir, &vars, &["doctor"]);
    assert!(!ok);
    let mail = check(&out, "mail");
    assert!(
        mail.starts_with(&format!("FAIL  mail: {smtp_url} does not answer: "))
            && mail.ends_with("check SMTP_URL and that the server runs"),
        "{mail}"
    );
    assert_eq!(err.trim_end(), "error: 1 check failed");

    // A database that is down: one more failure, and the rest still checked.
    let down = format!("postgres://chopin@127.0.0.1:{}/app", free_port());
    let vars = [
        ("DATABASE_URL", down.as_str()),
        ("DATABASE_ACQUIRE_TIMEOUT_SECS", "1"),
        ("SMTP_URL", &smtp_url),
    ];
    let (ok, out, err) = run(&dir, &vars, &["doctor"]);
    assert!(!ok);
    let database = check(&out, "database");
    assert!(
        database.starts_with("FAIL  database: ")
            && database.ends_with("check DATABASE_URL and that the server runs"),
        "{database}"
    );
    assert!(check(&out, "mail").starts_with("FAIL  mail: "), "{out}");
    assert_eq!(err.trim_end(), "error: 2 checks failed");
}
