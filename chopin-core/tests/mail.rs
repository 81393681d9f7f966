//! Mail sent by the workers: written to `MAIL_DIR` without `SMTP_URL`, and delivered
//! through a real SMTP server (aiosmtpd) that is down during the first attempt, on
//! SQLite and on PostgreSQL, from a signup that enqueues its welcome mail in its own
//! transaction.

mod common;
#[path = "common/tools.rs"]
#[allow(dead_code, unreachable_pub)]
mod tools;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
use chopin_core::{
    ApiError, App, AppState, ServerMode, SmtpUrl,
    mail::{Mail, Template},
};
use common::{client, config_in, postgres::cluster, start_app, within};
use serde_json::{Value, json};
use tools::{SmtpServer, free_port};

struct Welcome<'a> {
    name: &'a str,
}

impl Template for Welcome<'_> {
    fn subject(&self) -> String {
        format!("Welcome, {}", self.name)
    }

    fn text(&self) -> String {
        format!("Hello {}, your account is ready.", self.name)
    }

    fn html(&self) -> Option<String> {
        Some(format!(
            "<p>Hello <b>{}</b>, your account is ready.</p>",
            self.name
        ))
    }
}

/// Creates an account and enqueues its welcome mail in one transaction.
async fn sign_up(
    State(state): State<AppState>,
    Json(body): Json<Value>,
) -> Result<StatusCode, ApiError> {
    let email = body["email"].as_str().unwrap_or_default();
    let name = email.split('@').next().unwrap_or_default();
    let mut tx = state.db().begin().await?;
    sqlx::query(
        "INSERT INTO chopin_users (email, username, password_hash, created_at) \
         VALUES ($1, $2, '-', '')",
    )
    .bind(email)
    .bind(name)
    .execute(&mut *tx)
    .await?;
    let mail = Mail::from_template(email, &Welcome { name });
    state.mailer().send(mail).on(&mut tx).await?;
    tx.commit().await?;
    Ok(StatusCode::CREATED)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chopin-mail-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The files in `dir`, once there are `n` of them.
async fn files(dir: &Path, n: usize) -> Vec<String> {
    within(&format!("{n} mails in {}", dir.display()), async {
        loop {
            let found: Vec<String> = std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .filter(|e| e.path().is_file())
                        .map(|e| std::fs::read_to_string(e.path()).unwrap())
                        .collect()
                })
                .unwrap_or_default();
            if found.len() >= n {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

#[tokio::test]
async fn without_smtp_url_mail_is_logged_and_written_to_mail_dir_in_both_modes() {
    for mode in [ServerMode::Standard, ServerMode::Performance] {
        let dir = temp_dir(&format!("{mode:?}"));
        let mut config = config_in(mode);
        config.mail_dir = dir.display().to_string();
        config.mail_from = "Shop <shop@example.com>".to_owned();
        let app = App::with_config(config).await.unwrap();
        let state = app.state().clone();
        let server = start_app(app).await;

        let mail = Mail::new("ada@example.com", "Your order", "It ships today.")
            .html("<p>It ships <i>today</i>.</p>");
        state.mailer().send(mail).await.unwrap().unwrap();
        let mail = &files(&dir, 1).await[0];
        for part in [
            "From: Shop <shop@example.com>",
            "To: ada@example.com",
            "Subject: Your order",
            "Content-Type: text/plain; charset=utf-8",
            "It ships today.",
            "Content-Type: text/html; charset=utf-8",
            "<p>It ships <i>today</i>.</p>",
        ] {
            assert!(mail.contains(part), "{mode:?}: {part:?} in\n{mail}");
        }
        server.shutdown().await.unwrap();
    }
}

/// The welcome mail's job: (attempts, last error).
async fn mail_job(state: &AppState) -> Option<(i64, Option<String>)> {
    sqlx::query_as("SELECT attempts, last_error FROM chopin_jobs WHERE name = 'chopin_send_mail'")
        .fetch_optional(state.db())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_welcome_mail_is_retried_while_the_smtp_server_is_down_and_arrives_once_it_is_up() {
    let sqlite = format!("sqlite:{}", temp_dir("db").join("app.db").display());
    for (backend, url) in [("sqlite", sqlite), ("postgres", cluster().fresh_database())] {
        let port = free_port();
        let mut config = config_in(ServerMode::Performance);
        config.database_url = url.parse().unwrap();
        config.smtp_url = SmtpUrl::new(&format!("smtp://127.0.0.1:{port}")).unwrap();
        let app = App::with_config(config).await.unwrap();
        let state = app.state().clone();
        let routes = Router::new()
            .route("/signup", post(sign_up))
            .with_state(state.clone());
        let server = start_app(app.router(routes)).await;

        let signup = client()
            .post(server.url("/signup"))
            .json(&json!({ "email": "ada@example.com" }))
            .send()
            .await
            .unwrap();
        assert_eq!(signup.status(), StatusCode::CREATED, "{backend}");
        let error = within("the first attempt to fail", async {
            loop {
                if let Some((attempts, Some(error))) = mail_job(&state).await {
                    assert_eq!(attempts, 1, "{backend}");
                    return error;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(error.contains("onnect"), "{backend}: {error}");

        let maildir = temp_dir(&format!("maildir-{backend}"));
        let _smtp = SmtpServer::start(port, Some(&maildir));
        let mail = &files(&maildir.join("new"), 1).await[0];
        for part in [
            "To: ada@example.com",
            "Subject: Welcome, ada",
            "Hello ada, your account is ready.",
            "<p>Hello <b>ada</b>, your account is ready.</p>",
        ] {
            assert!(mail.contains(part), "{backend}: {part:?} in\n{mail}");
        }
        within("the mail's job to be done", async {
            while mail_job(&state).await.is_some() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_reset_mail_arrives_over_smtp_and_its_token_works_once() {
    let sqlite = format!("sqlite:{}", temp_dir("reset-db").join("app.db").display());
    for (backend, url) in [("sqlite", sqlite), ("postgres", cluster().fresh_database())] {
        let port = free_port();
        let maildir = temp_dir(&format!("reset-maildir-{backend}"));
        let _smtp = SmtpServer::start(port, Some(&maildir));
        let mut config = config_in(ServerMode::Standard);
        config.database_url = url.parse().unwrap();
        config.smtp_url = SmtpUrl::new(&format!("smtp://127.0.0.1:{port}")).unwrap();
        let server = start_app(App::with_config(config).await.unwrap()).await;
        let post = |path: &str, body: Value| client().post(server.url(path)).json(&body).send();

        let signup = post(
            "/api/auth/signup",
            json!({"email": "ada@example.com", "username": "ada", "password": "correct horse battery"}),
        )
        .await
        .unwrap();
        assert_eq!(signup.status(), StatusCode::CREATED, "{backend}");
        let forgot = post(
            "/api/auth/password/forgot",
            json!({"email": "ada@example.com"}),
        )
        .await
        .unwrap();
        assert_eq!(forgot.status(), StatusCode::ACCEPTED, "{backend}");

        // The verification mail of the signup, and the reset mail.
        let mails = files(&maildir.join("new"), 2).await;
        let reset = mails
            .iter()
            .find(|m| m.contains("Subject: Reset your password"))
            .unwrap_or_else(|| panic!("{backend}: no reset mail in {mails:#?}"));
        assert!(reset.contains("To: ada@example.com"), "{backend}: {reset}");
        let token = reset
            .lines()
            .map(str::trim)
            .find(|l| l.len() == 64 && l.bytes().all(|b| b.is_ascii_hexdigit()))
            .unwrap_or_else(|| panic!("{backend}: no token in {reset}"))
            .to_owned();
        let body = json!({"token": token, "password": "a brand new password"});
        let first = post("/api/auth/password/reset", body.clone())
            .await
            .unwrap();
        assert_eq!(first.status(), StatusCode::NO_CONTENT, "{backend}");
        let again = post("/api/auth/password/reset", body).await.unwrap();
        assert_eq!(again.status(), StatusCode::FORBIDDEN, "{backend}: once");
        let login = post(
            "/api/auth/login",
            json!({"email": "ada@example.com", "password": "a brand new password"}),
        )
        .await
        .unwrap();
        assert_eq!(login.status(), StatusCode::OK, "{backend}");
        server.shutdown().await.unwrap();
    }
}
