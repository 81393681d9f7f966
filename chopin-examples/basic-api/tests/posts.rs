//! The posts API over HTTP, in both server modes, on SQLite and on PostgreSQL: create,
//! list with pagination, read, update and delete, with auth, ownership, validation and
//! compression.

// The core's throwaway cluster, shared rather than copied.
#[path = "../../../chopin-core/tests/common/postgres.rs"]
#[allow(dead_code, unreachable_pub)]
mod postgres;

use std::time::Duration;

use chopin_basic_api::{Page, Post, build};
use chopin_core::{
    App, Config, ServerMode,
    auth::{self, Role},
};
use reqwest::{Client, RequestBuilder, header};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const LIMIT: Duration = Duration::from_secs(20);
const PASSWORD: &str = "correct horse battery";

struct Api {
    base: String,
    http: Client,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), chopin_core::Error>>,
    state: chopin_core::AppState,
    /// Where this server's mail goes (`MAIL_DIR`, no `SMTP_URL`).
    mail_dir: std::path::PathBuf,
}

impl Api {
    async fn start(mode: ServerMode, database_url: &str) -> Self {
        let mut config = Config::default();
        config.port = 0;
        config.mode = mode;
        config.workers = 2;
        config.database_url = database_url.parse().expect("URL");
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mail_dir =
            std::env::temp_dir().join(format!("basic-api-mail-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&mail_dir);
        config.mail_dir = mail_dir.display().to_string();
        let app = build(App::with_config(config).await.expect("app"))
            .await
            .expect("migrations");
        let state = app.state().clone();
        let server = app.bind().await.expect("bind");
        let base = format!("http://{}", server.local_addr());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async move {
            let _ = stopped.await;
        }));
        let http = Client::builder()
            .no_proxy()
            .timeout(LIMIT)
            .build()
            .expect("client");
        Self {
            base,
            http,
            stop: Some(stop),
            task,
            state,
            mail_dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, request: RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON: {text}"))
        };
        (status, body)
    }

    async fn signup(&self, name: &str) -> String {
        let (status, body) = self
            .send(self.http.post(self.url("/api/auth/signup")).json(&json!({
                "email": format!("{name}@example.com"),
                "username": name,
                "password": PASSWORD,
            })))
            .await;
        assert_eq!(status, 201, "{body}");
        body["access_token"].as_str().expect("token").to_owned()
    }

    /// The mails the posts routes sent so far (not Chopin's signup verification
    /// mails), once there are at least `n`.
    async fn mails(&self, n: usize) -> Vec<String> {
        let read = || -> Vec<String> {
            std::fs::read_dir(&self.mail_dir)
                .map(|files| {
                    let files = files.filter_map(Result::ok);
                    files
                        .filter_map(|f| std::fs::read_to_string(f.path()).ok())
                        .filter(|mail| !mail.contains("Subject: Verify your email address"))
                        .collect()
                })
                .unwrap_or_default()
        };
        tokio::time::timeout(LIMIT, async {
            loop {
                let mails = read();
                if mails.len() >= n {
                    return mails;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{n} mails within {LIMIT:?}: {:?}", read()))
    }

    async fn stop(mut self) {
        let _ = self.stop.take().expect("stops once").send(());
        tokio::time::timeout(LIMIT, self.task)
            .await
            .expect("drained in time")
            .expect("task")
            .expect("server");
    }
}

async fn crud(mode: ServerMode, database_url: &str) {
    let api = Api::start(mode, database_url).await;
    let http = &api.http;
    let alice = api.signup("alice").await;
    let bob = api.signup("bob").await;
    let moderator = auth::create_user(
        &api.state,
        "mod@example.com",
        "mod",
        PASSWORD,
        Role::Moderator,
    )
    .await
    .expect("moderator");
    let moderator = api.state.issue_token(moderator.id).await.expect("token");
    let posts = api.url("/api/posts");

    // Create: signed in, valid fields.
    let hello = json!({"title": "Hello", "body": "First post."});
    let (status, body) = api.send(http.post(&posts).json(&hello)).await;
    assert_eq!(status, 401, "{mode:?}: {body}");
    let (status, body) = api
        .send(
            http.post(&posts)
                .bearer_auth(&alice)
                .json(&json!({"title": ""})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["fields"]["title"], "must not be empty", "{body}");
    assert_eq!(body["fields"]["body"], "is required", "{body}");
    let (status, body) = api
        .send(
            http.post(&posts)
                .bearer_auth(&alice)
                .json(&json!({"title": "a\0b", "body": "x"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["fields"]["title"], "must not contain NUL", "{body}");
    let (status, body) = api
        .send(http.post(&posts).bearer_auth(&alice).json(&hello))
        .await;
    assert_eq!(status, 201, "{body}");
    let created: Post = serde_json::from_value(body).expect("a post");
    assert_eq!(
        (created.title.as_str(), created.body.as_str()),
        ("Hello", "First post.")
    );
    // Its author is mailed, by a worker; the refused posts above sent nothing.
    let mails = api.mails(1).await;
    assert_eq!(mails.len(), 1, "{mode:?}: {mails:?}");
    for part in [
        "To: alice@example.com",
        "Subject: Published: Hello",
        &format!(
            "Your post \"Hello\" is published at /api/posts/{}.",
            created.id
        ),
    ] {
        assert!(mails[0].contains(part), "{mode:?}: {part} in {}", mails[0]);
    }
    let one = api.url(&format!("/api/posts/{}", created.id));

    // Read.
    let (status, body) = api.send(http.get(&one)).await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_value::<Post>(body).expect("post"), created);
    assert_eq!(
        api.send(http.get(api.url("/api/posts/999999"))).await.0,
        404
    );
    let (status, body) = api.send(http.get(api.url("/api/posts/abc"))).await;
    assert_eq!(status, 400, "{body}");

    // Update: the author and a moderator may, someone else may not.
    let edit = json!({"title": "Hello again", "body": "Edited."});
    let (status, body) = api.send(http.put(&one).bearer_auth(&bob).json(&edit)).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = api
        .send(http.put(&one).bearer_auth(&alice).json(&edit))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["title"], "Hello again");
    let (status, body) = api
        .send(
            http.put(&one)
                .bearer_auth(&moderator)
                .json(&json!({"title": "Moderated", "body": "."})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["author_id"], created.author_id, "the author stays");

    // List: newest first, paged, with a total and a capped page size.
    for i in 0..5 {
        let post = json!({"title": format!("Post {i}"), "body": "..."});
        let (status, _) = api
            .send(http.post(&posts).bearer_auth(&bob).json(&post))
            .await;
        assert_eq!(status, 201);
    }
    let page = |query: &str| api.send(http.get(format!("{posts}{query}")));
    let (status, body) = page("?page=1&per_page=2").await;
    assert_eq!(status, 200, "{body}");
    let first: Page = serde_json::from_value(body).expect("a page");
    assert_eq!((first.total, first.page, first.per_page), (6, 1, 2));
    let titles: Vec<&str> = first.items.iter().map(|p| p.title.as_str()).collect();
    assert_eq!(titles, ["Post 4", "Post 3"]);
    let (_, body) = page("?page=3&per_page=2").await;
    let last: Page = serde_json::from_value(body).expect("a page");
    assert_eq!(last.items.last().map(|p| p.id), Some(created.id));
    let (_, body) = page("?page=4&per_page=2").await;
    assert_eq!(body["items"], json!([]));
    let (status, body) = page("?per_page=101").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["fields"]["per_page"], "must be from 1 to 100");
    let (_, body) = page("?page=92233720368547758&per_page=100").await;
    assert_eq!(body["items"], json!([]), "far past the end: an empty page");
    let (status, body) = page("?page=0").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["fields"]["page"], "must be at least 1");
    assert_eq!(page("?page=x").await.0, 400);

    // Compressed when asked.
    let response = http
        .get(&posts)
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    let listed: Page = serde_json::from_slice(&gunzip(&response.bytes().await.expect("body")))
        .expect("a page, compressed");
    assert_eq!(listed.total, 6);
    // Errors too, in the one JSON shape, compressed whole.
    let response = http
        .get(api.url("/api/posts/999999"))
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    let error: Value = serde_json::from_slice(&gunzip(&response.bytes().await.expect("body")))
        .expect("a JSON error, compressed");
    assert_eq!(error["error"], "not_found", "{error}");
    assert!(error["request_id"].is_string(), "{error}");

    // Delete: not someone else's; then it is gone.
    assert_eq!(api.send(http.delete(&one).bearer_auth(&bob)).await.0, 403);
    assert_eq!(api.send(http.delete(&one).bearer_auth(&alice)).await.0, 204);
    assert_eq!(api.send(http.get(&one)).await.0, 404);
    assert_eq!(api.send(http.delete(&one).bearer_auth(&alice)).await.0, 404);

    // Every route is documented.
    let (_, document) = api.send(http.get(api.url("/api-docs/openapi.json"))).await;
    let paths = &document["paths"];
    for (path, methods) in [
        ("/api/posts", &["get", "post"][..]),
        ("/api/posts/{id}", &["get", "put", "delete"]),
    ] {
        for method in methods {
            assert!(
                paths[path][method].is_object(),
                "{method} {path} documented"
            );
        }
    }
    api.stop().await;
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gzip");
    out
}

fn sqlite_url() -> String {
    let dir = std::env::temp_dir().join(format!("chopin-basic-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join(format!(
        "{}.db",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos()
    ));
    format!("sqlite:{}", file.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_on_sqlite_in_standard_mode() {
    crud(ServerMode::Standard, &sqlite_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_on_sqlite_in_performance_mode() {
    crud(ServerMode::Performance, &sqlite_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_on_postgres_in_standard_mode() {
    crud(ServerMode::Standard, &postgres::cluster().fresh_database()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_on_postgres_in_performance_mode() {
    crud(
        ServerMode::Performance,
        &postgres::cluster().fresh_database(),
    )
    .await;
}
