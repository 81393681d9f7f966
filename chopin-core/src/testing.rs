//! Tests of your routes without a socket: [`TestApp`] boots your [`Project`] on a fresh
//! database and sends requests through the whole middleware stack, as a server would.
//!
//! ```
//! use chopin_core::{App, Error, Project, http::StatusCode, testing::TestApp};
//!
//! async fn build(app: App) -> Result<App, Error> {
//!     Ok(app)
//! }
//!
//! # async fn test() -> Result<(), Box<dyn std::error::Error>> {
//! let app = TestApp::new(Project::new(build)).await?;
//! let ada = app.user("ada").await?;
//! let response = app.get("/api/auth/me").token(&ada.token).await;
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.json()["username"], "ada");
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(test()).unwrap();
//! ```
//!
//! The database is SQLite in memory, or, when `TEST_DATABASE_URL` names a PostgreSQL
//! server, a database of its own created there for the test and dropped with the
//! [`TestApp`]. Job workers do not run: a test sees a job stored, and runs it itself
//! if it wants its effect.

use std::{
    future::{Future, IntoFuture},
    net::SocketAddr,
    pin::Pin,
};

use axum::{Router, body::Body, extract::ConnectInfo};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde::Serialize;
use sqlx::{AnyConnection, AssertSqlSafe, Connection, Executor};
use tower::ServiceExt;

use crate::{
    api_error::ApiError,
    auth::{self, Role},
    config::{Config, vars},
    error::Error,
    project::Project,
    state::AppState,
};

/// The variable naming a PostgreSQL server for tests; unset, tests use SQLite in memory.
pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

/// The password of every [`TestApp::user`].
pub const PASSWORD: &str = "correct horse battery staple";

/// Where every test request comes from, as the server would record the peer.
const PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 50_000);

/// Your application on a database of its own, answering requests without a socket.
pub struct TestApp {
    router: Router,
    state: AppState,
    /// Dropped after the router, whose pool it closes.
    database: Option<TempDatabase>,
}

impl std::fmt::Debug for TestApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApp")
            .field("database", &self.database.as_ref().map(|d| &d.name))
            .finish_non_exhaustive()
    }
}

impl TestApp {
    /// `project` on a fresh database, with `ENVIRONMENT=test` and a random `JWT_SECRET`;
    /// everything else at its default.
    ///
    /// # Errors
    ///
    /// As [`Project::app`], or if the test database cannot be created.
    pub async fn new(project: Project) -> Result<Self, Error> {
        Self::with_vars(project, std::iter::empty::<(&str, &str)>()).await
    }

    /// As [`TestApp::new`], with settings of your own (`("CORS_ALLOWED_ORIGINS", "...")`)
    /// over those defaults.
    ///
    /// # Errors
    ///
    /// As [`TestApp::new`], or a setting that is not valid.
    pub async fn with_vars<I, K, V>(project: Project, vars: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let secret = random_hex()?;
        let database = match std::env::var(TEST_DATABASE_URL) {
            Ok(url) if !url.is_empty() => Some(TempDatabase::create(&url).await?),
            _ => None,
        };
        let url = database
            .as_ref()
            .map_or_else(|| "sqlite::memory:".to_owned(), |d| d.url.clone());
        let mut settings: Vec<(String, String)> = vec![
            (vars::DATABASE_URL.to_owned(), url),
            (vars::ENVIRONMENT.to_owned(), "test".to_owned()),
            (vars::JWT_SECRET.to_owned(), secret),
        ];
        for (name, value) in vars {
            let name = name.as_ref().to_owned();
            settings.retain(|(n, _)| *n != name);
            settings.push((name, value.into()));
        }
        let config = Config::from_vars(settings)?;
        let app = project.app(config).await?;
        let state = app.state().clone();
        Ok(Self {
            router: app.into_router(),
            state,
            database,
        })
    }

    /// The pool, keys, job queue and mailer of the app, for setting up rows or reading
    /// what a request stored.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A verified user `{name}@example.com`, username `name`, password [`PASSWORD`],
    /// signed in: `token` is a bearer token for it.
    ///
    /// # Errors
    ///
    /// As [`auth::create_user`]: e.g. a name already taken in this app.
    pub async fn user(&self, name: &str) -> Result<TestUser, ApiError> {
        self.user_with_role(name, Role::User).await
    }

    /// As [`TestApp::user`], with `role`.
    ///
    /// # Errors
    ///
    /// As [`TestApp::user`].
    pub async fn user_with_role(&self, name: &str, role: Role) -> Result<TestUser, ApiError> {
        let email = format!("{name}@example.com");
        let user = auth::create_user(&self.state, &email, name, PASSWORD, role).await?;
        let token = self.state.issue_token(user.id).await?;
        Ok(TestUser {
            id: user.id,
            email,
            username: name.to_owned(),
            token,
        })
    }

    /// A `GET` of `path` (with its query, if any); `.await` sends it.
    pub fn get(&self, path: &str) -> TestRequest {
        self.request(Method::GET, path)
    }

    /// A `POST` of `path`.
    pub fn post(&self, path: &str) -> TestRequest {
        self.request(Method::POST, path)
    }

    /// A `PUT` of `path`.
    pub fn put(&self, path: &str) -> TestRequest {
        self.request(Method::PUT, path)
    }

    /// A `PATCH` of `path`.
    pub fn patch(&self, path: &str) -> TestRequest {
        self.request(Method::PATCH, path)
    }

    /// A `DELETE` of `path`.
    pub fn delete(&self, path: &str) -> TestRequest {
        self.request(Method::DELETE, path)
    }

    /// A request with any method.
    pub fn request(&self, method: Method, path: &str) -> TestRequest {
        TestRequest {
            router: self.router.clone(),
            method,
            path: path.to_owned(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            error: None,
        }
    }
}

/// A user made by [`TestApp::user`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TestUser {
    /// Its id.
    pub id: i64,
    /// `{name}@example.com`.
    pub email: String,
    /// The name given.
    pub username: String,
    /// A bearer token for it, for [`TestRequest::token`].
    pub token: String,
}

/// A request being built; `.await` sends it through the app and gives its
/// [`TestResponse`].
#[must_use = "a request is sent when awaited"]
pub struct TestRequest {
    router: Router,
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
    /// A header that could not be set, reported when the request is sent.
    error: Option<String>,
}

impl std::fmt::Debug for TestRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl TestRequest {
    /// Sends `Authorization: Bearer {token}`.
    pub fn token(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// `body` as JSON, with `Content-Type: application/json`.
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_json::to_vec(body) {
            Ok(json) => self.body = json.into(),
            Err(e) => self.error = Some(format!("the body is not JSON: {e}")),
        }
        self.header("content-type", "application/json")
    }

    /// Sets the header `name` (replacing any earlier value).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(name), Ok(value)) => {
                self.headers.insert(name, value);
            }
            _ => self.error = Some(format!("invalid header {name}: {value:?}")),
        }
        self
    }

    /// The raw body, e.g. malformed JSON.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    async fn send(self) -> TestResponse {
        if let Some(error) = self.error {
            panic!("{} {}: {error}", self.method, self.path);
        }
        let mut request = Request::new(Body::from(self.body));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = match self.path.parse() {
            Ok(uri) => uri,
            Err(e) => panic!("{} {}: not a path: {e}", self.method, self.path),
        };
        *request.headers_mut() = self.headers;
        (request.headers_mut())
            .entry(header::HOST)
            .or_insert(HeaderValue::from_static("localhost"));
        request.extensions_mut().insert(ConnectInfo(PEER));
        let response = match self.router.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        let body = match body.collect().await {
            Ok(body) => body.to_bytes(),
            Err(e) => panic!(
                "{} {}: reading the body failed: {e}",
                self.method, self.path
            ),
        };
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}

impl IntoFuture for TestRequest {
    type Output = TestResponse;
    type IntoFuture = Pin<Box<dyn Future<Output = TestResponse> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// A response, its body read whole.
#[derive(Clone, Debug)]
pub struct TestResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl TestResponse {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The header `name`, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every header.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body as bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    ///
    /// # Panics
    ///
    /// If it is not JSON: the message gives the status and the body, as a failed
    /// assertion would.
    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_slice(&self.body) {
            Ok(json) => json,
            Err(e) => panic!(
                "the {} response is not JSON ({e}): {}",
                self.status,
                self.text()
            ),
        }
    }
}

/// A database made for one test on the PostgreSQL server of `TEST_DATABASE_URL`.
struct TempDatabase {
    /// The server's URL, to drop it from.
    admin: String,
    name: String,
    url: String,
}

impl TempDatabase {
    async fn create(admin: &str) -> Result<Self, Error> {
        let fail = |e: &dyn std::fmt::Display| {
            Error::database(
                crate::config::DatabaseUrl::new(admin)
                    .map_or_else(|_| String::new(), |u| u.to_string()),
                format!("{TEST_DATABASE_URL}: {e}"),
            )
        };
        if !(admin.starts_with("postgres://") || admin.starts_with("postgresql://")) {
            return Err(fail(&"expected a postgres:// URL"));
        }
        let name = format!(
            "chopin_test_{}",
            random_hex()
                .map_err(|e| fail(&e))?
                .get(..16)
                .unwrap_or_default()
        );
        sqlx::any::install_default_drivers();
        let mut conn = AnyConnection::connect(admin).await.map_err(|e| fail(&e))?;
        let create = format!("CREATE DATABASE {name}");
        conn.execute(AssertSqlSafe(create))
            .await
            .map_err(|e| fail(&e))?;
        let _ = conn.close().await;
        let url = with_database(admin, &name);
        Ok(Self {
            admin: admin.to_owned(),
            name,
            url,
        })
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop runs inside the test's runtime, which must not be blocked on: a thread
        // of its own with a runtime of its own does the work.
        let worker = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut conn = AnyConnection::connect(&admin).await.ok()?;
                conn.execute(AssertSqlSafe(drop)).await.ok()?;
                conn.close().await.ok()
            })
        });
        let _ = worker.join();
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    match query {
        Some(query) => format!("{scheme}://{authority}/{name}?{query}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

/// 32 random bytes in hex.
fn random_hex() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(Error::random)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://u:p@h:5/app?sslmode=disable", "t"),
            "postgres://u:p@h:5/t?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "t"), "postgres://h/t");
        assert_eq!(with_database("postgres://h/", "t"), "postgres://h/t");
    }
}
