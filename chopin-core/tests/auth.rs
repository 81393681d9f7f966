//! Database and auth against real databases: each test runs on an SQLite file and on a
//! throwaway PostgreSQL cluster (see `common/postgres.rs`).

mod common;

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use axum::{Json, Router, routing::get};
use chopin_core::{
    App, Config, JwtSecret,
    auth::{AuthUser, RequireRole, User, roles},
    sqlx::{
        self, SqlSafeStr,
        migrate::{Migration, MigrationType, Migrator},
    },
};
use common::{Running, client, start_app};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SECRET: &str = "a test secret that is at least 32 bytes";

fn sqlite_url() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "auth-{}-{}.db",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    format!("sqlite:{}", path.display())
}

fn postgres_url() -> String {
    common::postgres::cluster().fresh_database()
}

fn config(url: &str) -> Config {
    let mut config = common::config();
    config.database_url = url.parse().expect("URL");
    config.jwt_secret = JwtSecret::new(SECRET);
    // These tests fail logins on purpose, more often than the lockout allows
    // (accounts.rs tests the lockout).
    config.login_max_failures = 1000;
    config
}

/// Routes a user would write with the extractors.
fn guarded_routes(app: &App) -> Router {
    Router::new()
        .route("/whoami", get(|user: AuthUser| async move { Json(user.0) }))
        .route(
            "/moderation",
            get(|user: RequireRole<roles::Moderator>| async move { user.username.clone() }),
        )
        .route(
            "/admin",
            get(|user: RequireRole<roles::Admin>| async move { user.username.clone() }),
        )
        .with_state(app.state().clone())
}

async fn start(url: &str) -> (Running, chopin_core::Db) {
    let app = App::with_config(config(url)).await.expect("app");
    let routes = guarded_routes(&app);
    let db = app.state().db().clone();
    (start_app(app.router(routes)).await, db)
}

async fn post(server: &Running, path: &str, body: Value) -> (StatusCode, Value) {
    let response = client()
        .post(server.url(path))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.json().await.expect("JSON body"))
}

async fn get_with(
    server: &Running,
    path: &str,
    authorization: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = client().get(server.url(path));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let body = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

async fn signup(server: &Running, email: &str, username: &str) -> (StatusCode, Value) {
    post(
        server,
        "/api/auth/signup",
        json!({"email": email, "username": username, "password": "correct horse battery"}),
    )
    .await
}

fn bearer(body: &Value) -> String {
    format!("Bearer {}", body["access_token"].as_str().expect("token"))
}

/// An error response in Chopin's shape with this status and code.
fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert_eq!(body["status"], expected.as_u16(), "{body}");
    assert!(body["request_id"].is_string(), "{body}");
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token for session 1, the first sign-in of a fresh database.
fn token(alg: Algorithm, secret: &str, sub: &str, iat: u64, exp: u64) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        &json!({"sub": sub, "sid": 1, "iat": iat, "exp": exp}),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encode")
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::sqlite_url()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::postgres_url()).await;
                }
            )*
        }
    };
}

on_both_backends!(
    signup_login_and_me,
    signup_rejects_invalid_fields,
    duplicates_conflict,
    wrong_password_and_unknown_email_look_alike,
    tokens_are_rejected_unless_valid,
    roles_guard_routes,
    json_bodies_are_checked,
    concurrent_signups,
    app_migrations_coexist_with_chopins,
    a_failed_migration_stops_startup_and_leaves_nothing,
    database_errors_reveal_nothing,
);

async fn signup_login_and_me(url: String) {
    let (server, _) = start(&url).await;
    let (status, body) = signup(&server, "Ada@Example.com", "ada").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 15 * 60);
    let user: User = serde_json::from_value(body["user"].clone()).expect("user shape");
    assert_eq!(
        user.email, "ada@example.com",
        "emails are stored lower-cased"
    );
    assert_eq!(user.username, "ada");
    assert_eq!(body["user"]["role"], "user");
    assert!(body["user"].get("password_hash").is_none());
    assert_eq!(user.created_at.len(), 20, "{}", user.created_at);

    let (status, me) = get_with(&server, "/api/auth/me", Some(&bearer(&body))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me, body["user"]);

    let (status, login) = post(
        &server,
        "/api/auth/login",
        json!({"email": "ADA@example.com", "password": "correct horse battery"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    assert_eq!(login["user"], body["user"]);
    let (status, whoami) = get_with(&server, "/whoami", Some(&bearer(&login))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(whoami["username"], "ada");
    server.shutdown().await.unwrap();
}

async fn signup_rejects_invalid_fields(url: String) {
    let (server, _) = start(&url).await;
    let (status, body) = post(
        &server,
        "/api/auth/signup",
        json!({"email": "not-an-email", "username": "a b", "password": "short"}),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unprocessable_entity",
    );
    let fields = body["fields"].as_object().expect("field errors");
    assert_eq!(
        fields.keys().collect::<Vec<_>>(),
        ["email", "password", "username"]
    );
    assert!(fields["password"].as_str().unwrap().contains("at least 8"));

    let (status, body) = signup(&server, "ok@example.com", "x").await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unprocessable_entity",
    );
    assert_eq!(body["fields"].as_object().unwrap().len(), 1, "{body}");
    assert!(body["fields"]["username"].is_string());
    server.shutdown().await.unwrap();
}

async fn duplicates_conflict(url: String) {
    let (server, _) = start(&url).await;
    assert_eq!(
        signup(&server, "bo@example.com", "bo_1").await.0,
        StatusCode::CREATED
    );
    let (status, body) = signup(&server, "BO@example.com", "someone").await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    assert!(
        body["message"].as_str().unwrap().contains("email"),
        "{body}"
    );
    let (status, body) = signup(&server, "other@example.com", "BO_1").await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    assert!(
        body["message"].as_str().unwrap().contains("username"),
        "{body}"
    );
    server.shutdown().await.unwrap();
}

async fn wrong_password_and_unknown_email_look_alike(url: String) {
    let (server, _) = start(&url).await;
    assert_eq!(
        signup(&server, "cy@example.com", "cyd").await.0,
        StatusCode::CREATED
    );
    let attempt = |email: &'static str| {
        let server = &server;
        async move {
            let started = Instant::now();
            let (status, mut body) = post(
                server,
                "/api/auth/login",
                json!({"email": email, "password": "not the password"}),
            )
            .await;
            let took = started.elapsed();
            assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
            body.as_object_mut().unwrap().remove("request_id");
            (body, took)
        }
    };
    // Warm up: the first unknown email pays for the dummy hash once.
    attempt("nobody@example.com").await;
    let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let (a, ta) = attempt("cy@example.com").await;
        let (b, tb) = attempt("nobody@example.com").await;
        assert_eq!(a, b, "same answer for wrong password and unknown email");
        wrong.push(ta);
        unknown.push(tb);
    }
    // Addresses and passwords no signup accepts are refused alike, never a 500.
    for (email, password) in [
        ("a\u{0}b@example.com", "not the password"),
        ("cy@example.com", "short"),
        ("cy@example.com", &"x".repeat(2000)),
    ] {
        let (status, body) = post(
            &server,
            "/api/auth/login",
            json!({"email": email, "password": password}),
        )
        .await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    wrong.sort();
    unknown.sort();
    let ratio = unknown[2].as_secs_f64() / wrong[2].as_secs_f64();
    assert!(
        (0.33..3.0).contains(&ratio),
        "unknown email took {:?}, wrong password {:?} (medians)",
        unknown[2],
        wrong[2]
    );
    server.shutdown().await.unwrap();
}

async fn tokens_are_rejected_unless_valid(url: String) {
    let (server, db) = start(&url).await;
    let (_, body) = signup(&server, "di@example.com", "dia").await;
    let id = body["user"]["id"].as_i64().unwrap().to_string();
    let now = unix_now();
    let none_token = format!(
        "{}.{}.",
        base64url(br#"{"alg":"none","typ":"JWT"}"#),
        base64url(
            json!({"sub": id, "sid": 1, "iat": now, "exp": now + 600})
                .to_string()
                .as_bytes()
        )
    );
    let rejected = [
        ("missing", None),
        ("not bearer", Some("Basic ZGk6cGFzcw==".to_owned())),
        ("empty bearer", Some("Bearer ".to_owned())),
        ("malformed", Some("Bearer not.a.token".to_owned())),
        (
            "wrong signature",
            Some(format!(
                "Bearer {}",
                token(
                    Algorithm::HS256,
                    "another secret, 32 bytes or more!!",
                    &id,
                    now,
                    now + 600
                )
            )),
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                token(Algorithm::HS256, SECRET, &id, now - 7200, now - 3600)
            )),
        ),
        ("alg none", Some(format!("Bearer {none_token}"))),
        (
            "HS384",
            Some(format!(
                "Bearer {}",
                token(Algorithm::HS384, SECRET, &id, now, now + 600)
            )),
        ),
        (
            "no session",
            Some(format!(
                "Bearer {}",
                jsonwebtoken::encode(
                    &Header::new(Algorithm::HS256),
                    &json!({"sub": id, "iat": now, "exp": now + 600}),
                    &EncodingKey::from_secret(SECRET.as_bytes()),
                )
                .expect("encode")
            )),
        ),
        (
            "another session",
            Some(format!(
                "Bearer {}",
                jsonwebtoken::encode(
                    &Header::new(Algorithm::HS256),
                    &json!({"sub": id, "sid": 2, "iat": now, "exp": now + 600}),
                    &EncodingKey::from_secret(SECRET.as_bytes()),
                )
                .expect("encode")
            )),
        ),
        (
            "unknown user",
            Some(format!(
                "Bearer {}",
                token(Algorithm::HS256, SECRET, "999999", now, now + 600)
            )),
        ),
    ];
    for (case, header) in &rejected {
        let (status, body) = get_with(&server, "/api/auth/me", header.as_deref()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {body}");
        assert_eq!(body["error"], "unauthorized", "{case}: {body}");
    }
    // 5 s of leeway for clocks that differ: a token 2 s past `exp` passes, 30 s does not.
    let just_expired = format!(
        "Bearer {}",
        token(Algorithm::HS256, SECRET, &id, now - 600, now - 2)
    );
    assert_eq!(
        get_with(&server, "/api/auth/me", Some(&just_expired))
            .await
            .0,
        StatusCode::OK
    );
    let expired_30s = format!(
        "Bearer {}",
        token(Algorithm::HS256, SECRET, &id, now - 600, now - 30)
    );
    assert_eq!(
        get_with(&server, "/api/auth/me", Some(&expired_30s))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (_, body) = get_with(&server, "/api/auth/me", Some("Bearer x")).await;
    assert!(body["message"].as_str().unwrap().contains("invalid"));
    let expired = rejected[5].1.as_deref();
    let (_, body) = get_with(&server, "/api/auth/me", expired).await;
    assert!(
        body["message"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    let response = client()
        .get(server.url("/api/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");

    // A valid token for a deactivated account stops working, and so does its login.
    let valid = bearer(&body_of_login(&server, "di@example.com").await);
    assert_eq!(
        get_with(&server, "/api/auth/me", Some(&valid)).await.0,
        StatusCode::OK
    );
    sqlx::query("UPDATE chopin_users SET deactivated_at = '2026-01-01T00:00:00Z' WHERE email = $1")
        .bind("di@example.com")
        .execute(&db)
        .await
        .unwrap();
    let (status, body) = get_with(&server, "/api/auth/me", Some(&valid)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"].as_str().unwrap().contains("deactivated"),
        "{body}"
    );
    let (status, _) = post(
        &server,
        "/api/auth/login",
        json!({"email": "di@example.com", "password": "correct horse battery"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    server.shutdown().await.unwrap();
}

async fn body_of_login(server: &Running, email: &str) -> Value {
    let (status, body) = post(
        server,
        "/api/auth/login",
        json!({"email": email, "password": "correct horse battery"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn roles_guard_routes(url: String) {
    let (server, db) = start(&url).await;
    let (_, body) = signup(&server, "eve@example.com", "eve").await;
    let token = bearer(&body);
    let set_role = |role: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query("UPDATE chopin_users SET role = $1 WHERE email = $2")
                .bind(role)
                .bind("eve@example.com")
                .execute(&db)
                .await
                .unwrap();
        }
    };
    for path in ["/moderation", "/admin"] {
        let (status, body) = get_with(&server, path, Some(&token)).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    }
    set_role("moderator").await;
    assert_eq!(
        get_with(&server, "/moderation", Some(&token)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get_with(&server, "/admin", Some(&token)).await.0,
        StatusCode::FORBIDDEN
    );
    set_role("admin").await;
    let (status, body) = get_with(&server, "/admin", Some(&token)).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, Value::String("eve".into()))
    );
    assert_eq!(
        get_with(&server, "/moderation", Some(&token)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get_with(&server, "/admin", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    server.shutdown().await.unwrap();
}

async fn json_bodies_are_checked(url: String) {
    let (server, _) = start(&url).await;
    let send = |content_type: Option<&'static str>, body: Vec<u8>| {
        let server = &server;
        async move {
            let mut request = client().post(server.url("/api/auth/signup")).body(body);
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            let response = request.send().await.expect("request");
            let status = response.status();
            let body: Value = response.json().await.expect("JSON error body");
            (status, body)
        }
    };
    let valid = br#"{"email":"fo@example.com","username":"fo","password":"12345678"}"#.to_vec();
    let (status, body) = send(None, valid.clone()).await;
    assert_error(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let (status, body) = send(Some("text/plain"), valid).await;
    assert_error(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let (status, body) = send(Some("application/json"), b"{\"email\": ".to_vec()).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) = send(
        Some("application/json"),
        br#"{"email":"fo@example.com","username":5,"password":"12345678"}"#.to_vec(),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unprocessable_entity",
    );
    let (status, body) = send(
        Some("application/json"),
        br#"{"email":"fo@example.com"}"#.to_vec(),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unprocessable_entity",
    );
    // Refused on its Content-Length, before the 3 MiB are sent.
    let head = format!(
        "POST /api/auth/signup HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        3 * 1024 * 1024
    );
    let answer = raw_exchange(&server, head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["error"], "payload_too_large", "{body}");
    server.shutdown().await.unwrap();
}

/// Writes `request` and reads until the server closes or 1 s passes.
async fn raw_exchange(server: &Running, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0; 4096];
    while let Ok(Ok(n)) =
        tokio::time::timeout(Duration::from_secs(1), stream.read(&mut chunk)).await
    {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

async fn concurrent_signups(url: String) {
    let (server, _) = start(&url).await;
    let server = std::sync::Arc::new(server);
    let distinct = (0..50).map(|i| {
        let server = server.clone();
        tokio::spawn(async move {
            signup(
                &server,
                &format!("user{i}@example.com"),
                &format!("user{i}"),
            )
            .await
            .0
        })
    });
    for status in join_all(distinct).await {
        assert_eq!(status, StatusCode::CREATED);
    }
    let same = (0..20).map(|i| {
        let server = server.clone();
        tokio::spawn(async move {
            signup(&server, "same@example.com", &format!("same{i}"))
                .await
                .0
        })
    });
    let statuses = join_all(same).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 19), "{statuses:?}");
    std::sync::Arc::into_inner(server)
        .expect("all requests done")
        .shutdown()
        .await
        .unwrap();
}

async fn join_all<T>(tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        out.push(task.await.expect("task"));
    }
    out
}

fn migration(version: i64, sql: &'static str) -> Migration {
    Migration::new(
        version,
        format!("step {version}").into(),
        MigrationType::Simple,
        sql.into_sql_str(),
        false,
    )
}

async fn app_migrations_coexist_with_chopins(url: String) {
    // Version 1 like Chopin's own, and a `users` table of the application's.
    let migrator = Migrator::with_migrations(vec![
        migration(
            1,
            "CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT NOT NULL)",
        ),
        migration(
            2,
            "INSERT INTO users (id, name) VALUES (1, 'from a migration')",
        ),
    ]);
    for start in ["first", "restart"] {
        let app = App::with_config(config(&url))
            .await
            .expect("app")
            .migrate(&migrator)
            .await
            .expect("app migrations");
        let db = app.state().db().clone();
        let (name,): (String,) = sqlx::query_as("SELECT name FROM users WHERE id = 1")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(name, "from a migration");
        let chopin: Vec<(i64,)> =
            sqlx::query_as("SELECT version FROM _chopin_migrations ORDER BY version")
                .fetch_all(&db)
                .await
                .unwrap();
        let mine: Vec<(i64,)> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&db)
                .await
                .unwrap();
        assert_eq!((chopin, mine), (vec![(1,), (2,), (3,)], vec![(1,), (2,)]));
        let server = start_app(app).await;
        // The account made at the first start is still there after the restart.
        let expected = if start == "first" {
            StatusCode::CREATED
        } else {
            StatusCode::CONFLICT
        };
        assert_eq!(
            signup(&server, "gus@example.com", "gus").await.0,
            expected,
            "{start}"
        );
        server.shutdown().await.unwrap();
    }
}

async fn a_failed_migration_stops_startup_and_leaves_nothing(url: String) {
    let migrator = Migrator::with_migrations(vec![
        migration(1, "CREATE TABLE notes (id BIGINT PRIMARY KEY)"),
        migration(
            2,
            "CREATE TABLE half_done (id BIGINT); INSERT INTO no_such_table VALUES (1)",
        ),
    ]);
    let app = App::with_config(config(&url)).await.expect("app");
    let db = app.state().db().clone();
    let error = app.migrate(&migrator).await.expect_err("migration 2 fails");
    assert!(error.is_database());
    let message = error.to_string();
    assert!(
        message.starts_with("application migration failed and was rolled back"),
        "{message}"
    );
    assert!(message.contains("migration 2"), "{message}");
    // Editing an applied migration is refused before anything runs.
    let edited = Migrator::with_migrations(vec![migration(
        1,
        "CREATE TABLE notes (id BIGINT PRIMARY KEY, edited TEXT)",
    )]);
    let error = App::with_config(config(&url))
        .await
        .expect("app")
        .migrate(&edited)
        .await
        .expect_err("migration 1 was changed");
    assert!(
        error
            .to_string()
            .starts_with("application migrations cannot be applied to this database"),
        "{error}"
    );
    assert!(
        sqlx::query("SELECT 1 FROM notes")
            .fetch_all(&db)
            .await
            .is_ok()
    );
    assert!(
        sqlx::query("SELECT 1 FROM half_done")
            .fetch_all(&db)
            .await
            .is_err(),
        "nothing of the failed migration remains"
    );
}

async fn database_errors_reveal_nothing(url: String) {
    let (server, db) = start(&url).await;
    sqlx::query("ALTER TABLE chopin_users RENAME TO chopin_users_moved")
        .execute(&db)
        .await
        .unwrap();
    let (status, body) = signup(&server, "ivy@example.com", "ivy").await;
    assert_error(
        status,
        &body,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
    );
    assert_eq!(body["message"], "internal server error", "{body}");
    let (status, body) = post(
        &server,
        "/api/auth/login",
        json!({"email": "ivy@example.com", "password": "whatever it is"}),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
    );
    assert!(!body.to_string().contains("chopin_users"), "{body}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_is_created_in_wal_mode_and_survives_restarts() {
    let url = sqlite_url();
    let path = url.strip_prefix("sqlite:").unwrap().to_owned();
    assert!(!std::path::Path::new(&path).exists());
    let (server, db) = start(&url).await;
    assert!(std::path::Path::new(&path).exists(), "created if missing");
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(
        signup(&server, "hal@example.com", "hal").await.0,
        StatusCode::CREATED
    );
    server.shutdown().await.unwrap();
    db.close().await;

    let (server, _) = start(&url).await;
    let body = body_of_login(&server, "hal@example.com").await;
    assert_eq!(body["user"]["username"], "hal");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_sqlite_is_one_database_for_the_whole_pool() {
    let (server, _) = start("sqlite::memory:").await;
    let server = std::sync::Arc::new(server);
    let tasks = (0..8).map(|i| {
        let server = server.clone();
        tokio::spawn(async move {
            let (status, body) =
                signup(&server, &format!("m{i}@example.com"), &format!("mem{i}")).await;
            assert_eq!(status, StatusCode::CREATED);
            get_with(&server, "/api/auth/me", Some(&bearer(&body)))
                .await
                .0
        })
    });
    for status in join_all(tasks).await {
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn unreachable_database_stops_startup_naming_the_variable() {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = config(&format!(
        "postgres://app:hunter2@127.0.0.1:{closed_port}/app"
    ));
    config.database_acquire_timeout = Duration::from_secs(2);
    let started = Instant::now();
    let error = App::with_config(config)
        .await
        .expect_err("no database there");
    assert!(started.elapsed() < Duration::from_secs(10));
    let message = error.to_string();
    assert!(error.is_database());
    assert!(message.contains("DATABASE_URL"), "{message}");
    assert!(message.contains("app:***@127.0.0.1"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(
        message.contains("Connection refused"),
        "says why: {message}"
    );

    let error = App::with_config(config_for_missing_dir())
        .await
        .expect_err("no such directory");
    assert!(error.to_string().contains("DATABASE_URL"), "{error}");
}

fn config_for_missing_dir() -> Config {
    config("sqlite:/nonexistent-dir/for/sure/app.db")
}
