//! `user create` and `jobs`.

use std::io::{BufRead, IsTerminal};

use super::Failure;
use crate::{
    api_error::ApiError,
    app::App,
    auth::{self, Role},
    config::Config,
    project::Project,
};

async fn app(project: &Project) -> Result<App, Failure> {
    Ok(project.app(Config::from_env()?).await?)
}

pub(super) async fn create_user(
    project: &Project,
    email: &str,
    username: &str,
    role_name: &str,
) -> Result<(), Failure> {
    let role = match role_name {
        "user" => Role::User,
        "moderator" => Role::Moderator,
        "admin" => Role::Admin,
        other => {
            return Err(
                format!("invalid --role {other:?}: expected user, moderator or admin").into(),
            );
        }
    };
    let password = password()?;
    let app = app(project).await?;
    let user = auth::create_user(app.state(), email, username, &password, role)
        .await
        .map_err(|e| describe(&e))?;
    println!(
        "created user {}: {}, username {}, role {role_name}",
        user.id, user.email, user.username
    );
    app.state().db().close().await;
    Ok(())
}

/// From a prompt that does not echo, asked twice, or from stdin's first line when it is
/// not a terminal (never from an argument, which other users could read).
fn password() -> Result<String, Failure> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Password again: ")?;
        if first != second {
            return Err("the two passwords differ".into());
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err(
            "no password on stdin: pipe it in, or run this in a terminal to be asked".into(),
        );
    }
    Ok(password)
}

/// An API error as one line: its message and each field's problem.
fn describe(error: &ApiError) -> String {
    let fields: Vec<String> = error
        .fields()
        .map(|(f, why)| format!("{f} {why}"))
        .collect();
    match fields.is_empty() {
        true => error.message().to_owned(),
        false => format!("{}: {}", error.message(), fields.join("; ")),
    }
}

pub(super) async fn jobs(project: &Project, limit: u32) -> Result<(), Failure> {
    let app = app(project).await?;
    let jobs = app.state().jobs();
    let counts = jobs.counts().await?;
    println!(
        "{:<16} {:>8} {:>8} {:>8} {:>8}",
        "QUEUE", "PENDING", "RUNNING", "FAILED", "DEAD"
    );
    if counts.is_empty() {
        println!("(no jobs)");
    }
    for c in &counts {
        println!(
            "{:<16} {:>8} {:>8} {:>8} {:>8}",
            c.queue, c.pending, c.running, c.failed, c.dead
        );
    }
    let dead = jobs.dead(limit).await?;
    if !dead.is_empty() {
        println!();
        println!(
            "dead jobs (retry with `chopin jobs retry ID`, delete with `chopin jobs discard ID`):"
        );
        for job in dead {
            let error = job.last_error.lines().next().unwrap_or("");
            println!(
                "{:>6}  {}  queue {}  {} attempts  {error}",
                job.id, job.name, job.queue, job.attempts
            );
        }
    }
    app.state().db().close().await;
    Ok(())
}

pub(super) async fn retry(project: &Project, id: i64) -> Result<(), Failure> {
    let app = app(project).await?;
    if !app.state().jobs().retry(id).await? {
        return Err(format!("no dead job {id} (`chopin jobs` lists them)").into());
    }
    println!("job {id} will run again");
    app.state().db().close().await;
    Ok(())
}

pub(super) async fn discard(project: &Project, id: i64) -> Result<(), Failure> {
    let app = app(project).await?;
    if !app.state().jobs().discard(id).await? {
        return Err(format!("no dead job {id} (`chopin jobs` lists them)").into());
    }
    println!("job {id} discarded");
    app.state().db().close().await;
    Ok(())
}
