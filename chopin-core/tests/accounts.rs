//! The account lifecycle end to end, on an SQLite file and on PostgreSQL, in both server
//! modes: refresh-token rotation and reuse detection, logout and logout-all (seen at
//! once by a second instance on the same database), password change, forgot and reset,
//! email verification, and the per-address lockout of failed logins. Mails are read
//! from `MAIL_DIR`; `mail.rs` delivers a reset mail through a real SMTP server.

mod common;
#[path = "common/tools.rs"]
#[allow(dead_code, unreachable_pub)]
mod tools;

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use chopin_core::{App, AppState, Config, JwtSecret, ServerMode};
use common::{Running, client, config_in, start_app, within};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SECRET: &str = "a test secret that is at least 32 bytes";
const PASSWORD: &str = "correct horse battery";

fn unique(what: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("accounts-{}-{n}-{what}", std::process::id()))
}

fn sqlite_url() -> String {
    format!("sqlite:{}", unique("app.db").display())
}

fn postgres_url() -> String {
    common::postgres::cluster().fresh_database()
}

/// A server and what the test reads behind it: its state and the mails it wrote.
struct Api {
    server: Running,
    state: AppState,
    mail_dir: PathBuf,
}

fn config(url: &str, mode: ServerMode) -> Config {
    let mut config = config_in(mode);
    config.database_url = url.parse().expect("URL");
    config.jwt_secret = JwtSecret::new(SECRET);
    config
}

async fn start_with(mut config: Config) -> Api {
    let mail_dir = unique("mail");
    config.mail_dir = mail_dir.display().to_string();
    let app = App::with_config(config).await.expect("app");
    let state = app.state().clone();
    Api {
        server: start_app(app).await,
        state,
        mail_dir,
    }
}

async fn start(url: &str, mode: ServerMode) -> Api {
    start_with(config(url, mode)).await
}

impl Api {
    async fn send(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = match &body {
            Some(body) => client().post(self.server.url(path)).json(body),
            None => client().get(self.server.url(path)),
        };
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(path, None, Some(body)).await
    }

    async fn post_as(&self, token: &str, path: &str) -> (StatusCode, Value) {
        self.send(path, Some(token), Some(json!({}))).await
    }

    async fn me(&self, token: &str) -> StatusCode {
        self.send("/api/auth/me", Some(token), None).await.0
    }

    async fn signup(&self, email: &str, username: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/auth/signup",
                json!({"email": email, "username": username, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/api/auth/login",
            json!({"email": email, "password": password}),
        )
        .await
    }

    async fn refresh(&self, refresh_token: &Value) -> (StatusCode, Value) {
        self.post("/api/auth/refresh", json!({"refresh_token": refresh_token}))
            .await
    }

    /// Waits until the workers have run every job, so every mail that will be written
    /// has been.
    async fn jobs_done(&self) {
        within("the jobs to run", async {
            loop {
                let counts = self.state.jobs().counts().await.expect("counts");
                if counts.iter().all(|q| q.pending + q.running + q.failed == 0) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }

    /// The mails written so far, oldest first.
    fn mails(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.mail_dir) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        files.sort();
        files
            .iter()
            .map(|f| std::fs::read_to_string(f).expect("mail"))
            .collect()
    }

    /// The token of the one mail to `to` with `subject`, once the jobs have run.
    async fn mailed_token(&self, to: &str, subject: &str) -> String {
        self.jobs_done().await;
        let mails: Vec<String> = self
            .mails()
            .into_iter()
            .filter(|m| {
                m.contains(&format!("To: {to}")) && m.contains(&format!("Subject: {subject}"))
            })
            .collect();
        assert_eq!(mails.len(), 1, "one {subject:?} mail to {to}: {mails:#?}");
        token_in(&mails[0])
    }

    async fn stop(self) {
        self.server.shutdown().await.expect("shutdown");
    }
}

/// The 64-hex-digit token on a line of its own.
fn token_in(mail: &str) -> String {
    mail.lines()
        .map(str::trim)
        .find(|line| line.len() == 64 && line.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no token in {mail}"))
        .to_owned()
}

/// An error answer in Chopin's shape with this status and code.
fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert_eq!(body["status"], expected.as_u16(), "{body}");
    assert!(body["request_id"].is_string(), "{body}");
}

fn access(body: &Value) -> String {
    body["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

macro_rules! everywhere {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    for mode in [chopin_core::ServerMode::Standard, chopin_core::ServerMode::Performance] {
                        super::$name(super::sqlite_url(), mode).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    for mode in [chopin_core::ServerMode::Standard, chopin_core::ServerMode::Performance] {
                        super::$name(super::postgres_url(), mode).await;
                    }
                }
            )*
        }
    };
}

everywhere!(
    a_refresh_token_works_once_and_its_reuse_signs_the_session_out,
    logout_ends_one_session_and_logout_all_every_one,
    logout_all_is_seen_at_once_by_another_instance,
    a_password_change_signs_out_every_session,
    forgot_answers_alike_and_the_reset_token_works_once,
    email_verification,
    an_unverified_account_cannot_sign_in_when_verification_is_required,
    failed_logins_lock_out_one_address_not_the_account,
    login_attempts_are_limited_per_client_address,
    schemathesis_finds_nothing_over_the_auth_routes,
);

async fn a_refresh_token_works_once_and_its_reuse_signs_the_session_out(
    url: String,
    mode: ServerMode,
) {
    let api = start(&url, mode).await;
    let first = api.signup("ada@example.com", "ada").await;
    assert_eq!(first["token_type"], "Bearer");
    assert_eq!(first["expires_in"], 900, "15 minutes by default");
    let refresh = &first["refresh_token"];
    assert_eq!(refresh.as_str().map(str::len), Some(64), "{first}");

    let (status, second) = api.refresh(refresh).await;
    assert_eq!(status, StatusCode::OK, "{mode:?} {second}");
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(second["user"], first["user"]);
    assert_eq!(api.me(&access(&second)).await, StatusCode::OK);

    let (status, third) = api.refresh(&second["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{third}");

    // Someone replays the first token: two parties hold the family, so it all ends.
    let (status, reused) = api.refresh(refresh).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{reused}");
    assert!(
        reused["message"].as_str().unwrap().contains("already used"),
        "{reused}"
    );
    assert_eq!(api.me(&access(&third)).await, StatusCode::UNAUTHORIZED);
    let (status, _) = api.refresh(&third["refresh_token"]).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the newest token died with its family"
    );

    // Another session of the same account is not touched.
    let (status, other) = api.login("ada@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{other}");
    assert_eq!(api.me(&access(&other)).await, StatusCode::OK);

    for garbage in [json!("nope"), json!("0".repeat(64)), json!("")] {
        let (status, body) = api.refresh(&garbage).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{garbage}: {body}");
        assert_eq!(body["error"], "unauthorized");
    }
    api.stop().await;
}

async fn logout_ends_one_session_and_logout_all_every_one(url: String, mode: ServerMode) {
    let api = start(&url, mode).await;
    let a = api.signup("ada@example.com", "ada").await;
    let (_, b) = api.login("ada@example.com", PASSWORD).await;

    let (status, _) = api.post_as(&access(&a), "/api/auth/logout").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{mode:?}");
    assert_eq!(api.me(&access(&a)).await, StatusCode::UNAUTHORIZED);
    let (status, _) = api.refresh(&a["refresh_token"]).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a signed-out session's refresh token"
    );
    let (status, _) = api.post_as(&access(&a), "/api/auth/logout").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "logging out twice");
    assert_eq!(
        api.me(&access(&b)).await,
        StatusCode::OK,
        "the other session lives"
    );

    let (_, c) = api.login("ada@example.com", PASSWORD).await;
    let (status, _) = api.post_as(&access(&b), "/api/auth/logout-all").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for session in [&b, &c] {
        assert_eq!(api.me(&access(session)).await, StatusCode::UNAUTHORIZED);
        let (status, _) = api.refresh(&session["refresh_token"]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = api.post("/api/auth/logout", json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    api.stop().await;
}

async fn logout_all_is_seen_at_once_by_another_instance(url: String, mode: ServerMode) {
    let one = start(&url, mode).await;
    let two = start(&url, mode).await;
    let session = one.signup("ada@example.com", "ada").await;
    let token = access(&session);
    assert_eq!(two.me(&token).await, StatusCode::OK, "{mode:?}");
    let (status, refreshed) = two.refresh(&session["refresh_token"]).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a refresh on the other instance: {refreshed}"
    );

    let (status, _) = one.post_as(&token, "/api/auth/logout-all").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(two.me(&token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(two.me(&access(&refreshed)).await, StatusCode::UNAUTHORIZED);
    one.stop().await;
    two.stop().await;
}

async fn a_password_change_signs_out_every_session(url: String, mode: ServerMode) {
    let api = start(&url, mode).await;
    let a = api.signup("ada@example.com", "ada").await;
    let (_, b) = api.login("ada@example.com", PASSWORD).await;
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let token = access(&a);

    let (status, body) = api
        .send(
            "/api/auth/password",
            Some(&token),
            Some(change("wrong password", "a brand new password")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{mode:?} {body}");
    let (status, body) = api
        .send(
            "/api/auth/password",
            Some(&token),
            Some(change(PASSWORD, "short")),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["fields"]["new_password"].is_string(), "{body}");
    assert_eq!(
        api.me(&token).await,
        StatusCode::OK,
        "refused changes change nothing"
    );

    let (status, fresh) = api
        .send(
            "/api/auth/password",
            Some(&token),
            Some(change(PASSWORD, "a brand new password")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    for old in [&a, &b] {
        assert_eq!(api.me(&access(old)).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(api.me(&access(&fresh)).await, StatusCode::OK);
    assert_eq!(
        api.login("ada@example.com", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.login("ada@example.com", "a brand new password").await.0,
        StatusCode::OK
    );
    api.stop().await;
}

async fn forgot_answers_alike_and_the_reset_token_works_once(url: String, mode: ServerMode) {
    let api = start(&url, mode).await;
    let session = api.signup("ada@example.com", "ada").await;
    api.jobs_done().await;
    let before = api.mails().len();

    let forgot = |email: &str| api.post("/api/auth/password/forgot", json!({"email": email}));
    let (known_status, known) = forgot("Ada@Example.com").await;
    let (unknown_status, unknown) = forgot("nobody@example.com").await;
    assert_eq!(known_status, StatusCode::ACCEPTED, "{mode:?} {known}");
    assert_eq!((unknown_status, &unknown), (known_status, &known), "alike");
    let token = api
        .mailed_token("ada@example.com", "Reset your password")
        .await;
    assert_eq!(
        api.mails().len(),
        before + 1,
        "no mail for an unknown address"
    );
    let (status, body) = forgot("not an address").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let reset = |token: &str, password: &str| {
        api.post(
            "/api/auth/password/reset",
            json!({"token": token, "password": password}),
        )
    };
    let (status, body) = reset(&token, "short").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = reset(&"0".repeat(64), "a brand new password").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "invalid_token");
    let (status, body) = reset(&token, "a brand new password").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = reset(&token, "yet another password").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "invalid_token");

    assert_eq!(
        api.me(&access(&session)).await,
        StatusCode::UNAUTHORIZED,
        "signed out"
    );
    assert_eq!(
        api.login("ada@example.com", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = api.login("ada@example.com", "a brand new password").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["user"]["email_verified"], true,
        "the mail reached its owner"
    );
    api.stop().await;
}

async fn email_verification(url: String, mode: ServerMode) {
    let api = start(&url, mode).await;
    let session = api.signup("ada@example.com", "ada").await;
    assert_eq!(session["user"]["email_verified"], false);
    let token = api
        .mailed_token("ada@example.com", "Verify your email address")
        .await;

    let verify = |token: &str| api.post("/api/auth/verify", json!({"token": token}));
    let (status, body) = verify(&"f".repeat(64)).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "invalid_token");
    let (status, body) = verify(&token).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = verify(&token).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "invalid_token");
    let (_, me) = api
        .send("/api/auth/me", Some(&access(&session)), None)
        .await;
    assert_eq!(me["email_verified"], true, "{me}");

    // A verified account is mailed nothing more, and the answer does not say so.
    let before = api.mails().len();
    let (status, body) = api
        .post(
            "/api/auth/verify/resend",
            json!({"email": "ada@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    api.jobs_done().await;
    assert_eq!(api.mails().len(), before);
    api.stop().await;
}

async fn an_unverified_account_cannot_sign_in_when_verification_is_required(
    url: String,
    mode: ServerMode,
) {
    let mut config = config(&url, mode);
    config.require_verified_email = true;
    let api = start_with(config).await;
    let (status, body) = api
        .post(
            "/api/auth/signup",
            json!({"email": "ada@example.com", "username": "ada", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{mode:?} {body}");
    assert!(body.get("access_token").is_none(), "{body}");
    assert_eq!(body["user"]["email_verified"], false);
    let first = api
        .mailed_token("ada@example.com", "Verify your email address")
        .await;

    let (status, body) = api.login("ada@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("verify"),
        "{body}"
    );
    let (status, body) = api.login("ada@example.com", "a wrong password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // A lost mail: ask again; both tokens work until one is used.
    let (status, _) = api
        .post(
            "/api/auth/verify/resend",
            json!({"email": "ada@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    api.jobs_done().await;
    let tokens: Vec<String> = api
        .mails()
        .iter()
        .filter(|m| m.contains("Subject: Verify your email address"))
        .map(|m| token_in(m))
        .collect();
    assert_eq!(tokens.len(), 2);
    assert_ne!(tokens[1], first);
    let (status, _) = api
        .post("/api/auth/verify", json!({"token": tokens[1]}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = api.login("ada@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    api.stop().await;
}

async fn failed_logins_lock_out_one_address_not_the_account(url: String, mode: ServerMode) {
    let mut config = config(&url, mode);
    config.login_max_failures = 3;
    let api = start_with(config).await;
    api.signup("ada@example.com", "ada").await;
    for attempt in 1..=3 {
        let (status, body) = api.login("ada@example.com", "a wrong password").await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{mode:?} attempt {attempt}: {body}"
        );
    }
    let response = client()
        .post(api.server.url("/api/auth/login"))
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((890..=900).contains(&wait), "{wait}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests", "{body}");

    // Unknown addresses are locked out alike, so a lockout tells nothing.
    for _ in 1..=3 {
        api.login("nobody@example.com", "a wrong password").await;
    }
    assert_eq!(
        api.login("nobody@example.com", PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );

    // The owner, signing in from elsewhere, is not locked out.
    let from_elsewhere = client_from("127.0.0.2");
    let response = from_elsewhere
        .post(api.server.url("/api/auth/login"))
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    api.stop().await;
}

/// A client whose connections come from `ip` (any of 127.0.0.0/8 is loopback on Linux).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(ip.parse::<std::net::IpAddr>().expect("IP"))
        .build()
        .expect("client")
}

async fn login_attempts_are_limited_per_client_address(url: String, mode: ServerMode) {
    let mut config = config(&url, mode);
    config.auth_rate_limit = Config::default().auth_rate_limit;
    let api = start_with(config).await;
    api.signup("ada@example.com", "ada").await;
    // Another email each time, so the failed-login lockout stays out of it.
    let attempt = |client: reqwest::Client, forged: Option<&'static str>, i: usize| {
        let url = api.server.url("/api/auth/login");
        async move {
            let email = format!("bob{i}@example.com");
            let mut request = client
                .post(url)
                .json(&json!({"email": email, "password": "a wrong password"}));
            if let Some(address) = forged {
                request = request.header("x-forwarded-for", address);
            }
            let response = request.send().await.expect("request");
            let retry_after = response.headers().get("retry-after").cloned();
            let status = response.status();
            let body: Value = response.json().await.expect("JSON");
            (status, retry_after, body)
        }
    };
    // Each attempt claims another address; from an untrusted peer that changes nothing.
    const FORGED: [&str; 4] = ["203.0.113.1", "203.0.113.2", "198.51.100.7", "2001:db8::1"];
    let mut statuses = Vec::new();
    for i in 0..200 {
        let (status, retry_after, body) =
            attempt(client(), Some(FORGED[i % FORGED.len()]), i).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(body["error"], "too_many_requests", "{body}");
            let secs: u64 = retry_after
                .expect("Retry-After")
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=60).contains(&secs), "{secs}");
        } else {
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{mode:?} attempt {i}: {body}"
            );
        }
        statuses.push(status);
    }
    let allowed = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(
        allowed, 10,
        "the default limit is 10 a minute: {statuses:?}"
    );
    assert!(
        statuses[10..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "every attempt past the limit is refused"
    );

    // Another address signs in.
    let response = client_from("127.0.0.3")
        .post(api.server.url("/api/auth/login"))
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    // `me` has no limit: a token already guards it.
    let (_, session) = {
        let response = client_from("127.0.0.3")
            .post(api.server.url("/api/auth/login"))
            .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
            .send()
            .await
            .expect("request");
        (
            response.status(),
            response.json::<Value>().await.expect("JSON"),
        )
    };
    for _ in 0..20 {
        assert_eq!(api.me(&access(&session)).await, StatusCode::OK);
    }
    api.stop().await;
}

async fn schemathesis_finds_nothing_over_the_auth_routes(url: String, mode: ServerMode) {
    let api = start(&url, mode).await;
    let session = api.signup("contract@example.com", "contract").await;
    let token = access(&session);
    let document = api.server.url("/api-docs/openapi.json");
    // Every operation under /api/auth, signed in; those that can end the session last
    // (the 401s that follow are documented answers too).
    tokio::task::spawn_blocking(move || {
        let others = format!("^(?!{})/api/auth/", tools::SESSION_ENDING);
        let report = tools::assert_schemathesis_passes_on(&document, &token, 25, &others);
        assert!(report.contains("Tested: 8"), "{report}");
        let ending = format!("^{}", tools::SESSION_ENDING);
        let report = tools::assert_schemathesis_passes_on(&document, &token, 25, &ending);
        assert!(report.contains("Tested: 3"), "{report}");
    })
    .await
    .expect("schemathesis");
    api.stop().await;
}
