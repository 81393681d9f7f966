//! Building your own API on an `App`: layers, your fallback, your own error bodies, your
//! OpenAPI entries, tokens for tests, and the signed-in user loaded once.

mod common;

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
};

use axum::{
    Extension, Json, Router,
    extract::Request,
    response::{Html, IntoResponse, Response},
    routing::get,
};
use chopin_core::{
    App, KeepErrorBody, ServerMode,
    auth::{self, AuthUser, RequireRole, Role, roles::Moderator},
    utoipa_axum::{router::OpenApiRouter, routes},
};
use common::{client, config_in, start_app};
use http::{HeaderValue, StatusCode, header};
use serde_json::Value;
use tower::{Layer, Service};

const MODES: [ServerMode; 2] = [ServerMode::Standard, ServerMode::Performance];

async fn app_in(mode: ServerMode) -> App {
    common::app(config_in(mode)).await
}

/// Adds `x-probe: <n>` to every response, counts how often it was layered, and answers
/// `500` to a `call` that no `poll_ready` preceded (tower's contract).
#[derive(Clone)]
struct Probe {
    layered: Arc<AtomicUsize>,
}

impl<S> Layer<S> for Probe {
    type Service = ProbeService<S>;

    fn layer(&self, inner: S) -> ProbeService<S> {
        self.layered.fetch_add(1, Ordering::SeqCst);
        ProbeService {
            inner,
            ready: false,
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }
}

struct ProbeService<S> {
    inner: S,
    ready: bool,
    calls: Arc<AtomicUsize>,
}

impl<S: Clone> Clone for ProbeService<S> {
    fn clone(&self) -> Self {
        // A clone has not been polled ready, as tower's `Clone` contract says.
        Self {
            inner: self.inner.clone(),
            ready: false,
            calls: Arc::clone(&self.calls),
        }
    }
}

impl<S> Service<Request> for ProbeService<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        let ready = self.inner.poll_ready(cx);
        self.ready = ready.is_ready();
        ready
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if !std::mem::take(&mut self.ready) {
            return Box::pin(async {
                Ok((
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "called without poll_ready",
                )
                    .into_response())
            });
        }
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let future = self.inner.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            response
                .headers_mut()
                .insert("x-probe", HeaderValue::from(n));
            Ok(response)
        })
    }
}

#[tokio::test]
async fn a_layer_wraps_every_router_answer_once_and_is_polled_ready() {
    for mode in MODES {
        let layered = Arc::new(AtomicUsize::new(0));
        let app = app_in(mode).await.layer(Probe {
            layered: Arc::clone(&layered),
        });
        let server = start_app(app).await;
        let http = client();
        for (i, path) in [
            "/echo-missing",
            "/",
            "/api/auth/me",
            "/api-docs/openapi.json",
        ]
        .iter()
        .enumerate()
        {
            let response = http.get(server.url(path)).send().await.expect("request");
            assert_ne!(response.status(), 500, "{mode:?} {path}");
            assert_eq!(
                response.headers()["x-probe"],
                (i + 1).to_string().as_str(),
                "{mode:?} {path}: one shared service counts every request"
            );
            assert!(response.headers().contains_key("x-request-id"));
        }
        // Fast routes are answered before any middleware.
        let fast = http.get(server.url("/json")).send().await.expect("request");
        assert!(!fast.headers().contains_key("x-probe"), "{mode:?}");
        assert_eq!(layered.load(Ordering::SeqCst), 1, "{mode:?}: layered once");
        server.shutdown().await.expect("shutdown");
    }
}

/// A layer whose service is never ready, as a full concurrency limit would be.
#[derive(Clone)]
struct NeverReady;

impl<S> Layer<S> for NeverReady {
    type Service = NeverReadyService<S>;

    fn layer(&self, inner: S) -> NeverReadyService<S> {
        NeverReadyService(inner)
    }
}

#[derive(Clone)]
struct NeverReadyService<S>(S);

impl<S: Service<Request>> Service<Request> for NeverReadyService<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        Poll::Pending
    }

    fn call(&mut self, request: Request) -> S::Future {
        self.0.call(request)
    }
}

#[tokio::test]
async fn waiting_for_a_layer_to_be_ready_counts_against_the_request_timeout() {
    for mode in MODES {
        let mut config = config_in(mode);
        config.request_timeout = Some(std::time::Duration::from_millis(300));
        let app = common::app(config).await.layer(NeverReady);
        let server = start_app(app).await;
        let response = client()
            .get(server.url("/api/auth/me"))
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await
            .expect("an answer before the client gives up");
        assert_eq!(response.status(), 503, "{mode:?}");
        assert!(response.headers().contains_key(header::RETRY_AFTER));
        let body: Value = response.json().await.expect("JSON error");
        assert_eq!(body["error"], "request_timeout", "{mode:?}: {body}");
        server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test]
async fn your_fallback_answers_what_no_route_matches() {
    for mode in MODES {
        let routes = Router::new().route("/mine", get(|| async { "mine" }));
        let app = app_in(mode)
            .await
            .router(routes)
            .fallback(|| async { (StatusCode::NOT_FOUND, Html("<h1>not here</h1>")) });
        let server = start_app(app).await;
        let http = client();
        for path in ["/nowhere", "/"] {
            let response = http.get(server.url(path)).send().await.expect("request");
            assert_eq!(response.status(), 404, "{mode:?} {path}");
            assert_eq!(response.text().await.expect("body"), "<h1>not here</h1>");
        }
        let document: Value = http
            .get(server.url("/api-docs/openapi.json"))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON");
        assert!(
            document["paths"].get("/").is_none(),
            "{mode:?}: no welcome page documented where it is not served"
        );
        server.shutdown().await.expect("shutdown");

        // A router's own fallback cannot silently replace Chopin's, or be replaced by it.
        let app = app_in(mode).await;
        let merged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            app.router(Router::new().fallback(|| async { "mine" }))
        }));
        let panic = merged.expect_err("a router with its own fallback is refused");
        let message = panic.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(message.contains("both have a fallback"), "{message:?}");

        // Without one, Chopin's JSON 404 and welcome page.
        let server = start_app(app_in(mode).await).await;
        let missing = http
            .get(server.url("/nowhere"))
            .send()
            .await
            .expect("request");
        assert_eq!(missing.status(), 404);
        let error: Value = missing.json().await.expect("JSON 404");
        assert_eq!(error["error"], "not_found", "{error}");
        let welcome: Value = http
            .get(server.url("/"))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON");
        assert_eq!(welcome["framework"], "chopin");
        server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test]
async fn a_handler_or_a_router_keeps_its_own_error_body() {
    let routes = Router::new()
        .route(
            "/kept",
            get(|| async { (StatusCode::BAD_REQUEST, KeepErrorBody, "bad, in plain text") }),
        )
        .route(
            "/rewritten",
            get(|| async { (StatusCode::BAD_REQUEST, "bad, in plain text") }),
        )
        .merge(
            Router::new()
                .route(
                    "/legacy",
                    get(|| async { (StatusCode::CONFLICT, "legacy text") }),
                )
                .layer(KeepErrorBody),
        );
    let server = start_app(app_in(ServerMode::Standard).await.router(routes)).await;
    let http = client();
    for (path, status, body) in [
        ("/kept", 400, "bad, in plain text"),
        ("/legacy", 409, "legacy text"),
    ] {
        let response = http.get(server.url(path)).send().await.expect("request");
        assert_eq!(response.status(), status, "{path}");
        let content_type = response.headers()[header::CONTENT_TYPE].clone();
        assert!(
            content_type
                .to_str()
                .expect("ASCII")
                .starts_with("text/plain")
        );
        assert!(response.headers().contains_key("x-request-id"));
        assert_eq!(response.text().await.expect("body"), body, "{path}");
    }
    let rewritten = http
        .get(server.url("/rewritten"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        rewritten.headers()[header::CONTENT_TYPE],
        "application/json"
    );
    let error: Value = rewritten.json().await.expect("JSON");
    assert_eq!(error["message"], "bad, in plain text");
    server.shutdown().await.expect("shutdown");
}

/// Your own root page.
#[utoipa::path(get, path = "/", responses((status = 200, description = "My home page")))]
async fn home() -> &'static str {
    "home"
}

/// Posting to a fast route's path.
#[utoipa::path(post, path = "/json", responses((status = 201, description = "Stored")))]
async fn store() -> StatusCode {
    StatusCode::CREATED
}

#[tokio::test]
async fn the_document_keeps_what_you_documented() {
    let app = app_in(ServerMode::Standard)
        .await
        .api_router(OpenApiRouter::new().routes(routes!(home)));
    // A POST beside the fast route's GET: the router answers it.
    let app = app.api_router(OpenApiRouter::new().routes(routes!(store)));
    let server = start_app(app).await;
    let http = client();
    let document: Value = http
        .get(server.url("/api-docs/openapi.json"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    let paths = &document["paths"];
    assert_eq!(
        paths["/"]["get"]["responses"]["200"]["description"],
        "My home page"
    );
    assert_eq!(
        paths["/json"]["post"]["responses"]["201"]["description"],
        "Stored"
    );
    assert!(
        paths["/json"]["get"].is_object(),
        "the fast route stays documented"
    );
    assert_eq!(
        http.get(server.url("/"))
            .send()
            .await
            .expect("GET")
            .text()
            .await
            .expect("body"),
        "home"
    );
    let posted = http.post(server.url("/json")).send().await.expect("POST");
    assert_eq!(posted.status(), 201);
    server.shutdown().await.expect("shutdown");
}

async fn moderate(
    user: AuthUser,
    moderator: RequireRole<Moderator>,
    Extension(cached): Extension<AuthUser>,
) -> Json<Value> {
    assert_eq!(user.id, moderator.id);
    Json(serde_json::json!({ "id": cached.id, "role": cached.role.as_str() }))
}

#[tokio::test]
async fn tests_can_make_users_and_tokens_for_protected_routes() {
    for mode in MODES {
        let app = app_in(mode).await;
        let state = app.state().clone();
        let routes = Router::new()
            .route("/moderate", get(moderate))
            .with_state(state.clone());
        let server = start_app(app.router(routes)).await;
        let moderator = auth::create_user(
            &state,
            "mod@example.com",
            "moderator",
            "correct horse battery",
            Role::Moderator,
        )
        .await
        .expect("moderator");
        let member = auth::create_user(
            &state,
            "member@example.com",
            "member",
            "correct horse battery",
            Role::User,
        )
        .await
        .expect("member");
        let invalid = auth::create_user(&state, "not an email", "x", "short", Role::User).await;
        assert_eq!(
            invalid.expect_err("refused").status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );

        let http = client();
        let as_moderator = http
            .get(server.url("/moderate"))
            .bearer_auth(state.issue_token(moderator.id).await.expect("token"))
            .send()
            .await
            .expect("request");
        assert_eq!(as_moderator.status(), 200, "{mode:?}");
        let body: Value = as_moderator.json().await.expect("JSON");
        // The handler's `Extension<AuthUser>` is the user `AuthUser` loaded: one lookup.
        assert_eq!(body["id"], moderator.id);
        assert_eq!(body["role"], "moderator");

        let as_member = http
            .get(server.url("/moderate"))
            .bearer_auth(state.issue_token(member.id).await.expect("token"))
            .send()
            .await
            .expect("request");
        assert_eq!(as_member.status(), 403, "{mode:?}");
        let me: Value = http
            .get(server.url("/api/auth/me"))
            .bearer_auth(state.issue_token(member.id).await.expect("token"))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON");
        assert_eq!(me["username"], "member");
        server.shutdown().await.expect("shutdown");
    }
}
