//! The application over real sockets, talked to with a real HTTP client.

mod common;

use std::time::Duration;

use axum::{Router, extract::State, routing::get};
use chopin_core::{App, CorsOrigins, FastRoute, ServerMode};
use common::{client, config, start, start_app};
use http::{HeaderValue, StatusCode};
use serde_json::{Value, json};

async fn json_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(response.headers()["content-type"], "application/json");
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii id")
        .to_owned();
    let body: Value = response.json().await.expect("json body");
    assert_eq!(body["error"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body["request_id"], request_id, "{body}");
    body
}

#[tokio::test]
async fn welcome_route() {
    let server = start(config()).await;
    let response = client().get(server.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "framework": "chopin",
            "version": env!("CARGO_PKG_VERSION"),
            "mode": "standard",
            "docs": "/api-docs",
        })
    );

    let head = client().head(server.url("/")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], "application/json");
    assert!(head.bytes().await.unwrap().is_empty());

    let post = client().post(server.url("/")).send().await.unwrap();
    assert_eq!(post.headers()["allow"], "GET,HEAD");
    json_error(post, 405, "method_not_allowed").await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn user_route_replaces_the_welcome_route() {
    let app = App::with_config(config())
        .await
        .unwrap()
        .router(Router::new().route("/", get(|| async { "my home" })));
    let server = start_app(app).await;
    let response = client().get(server.url("/")).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "my home");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn fast_routes_answer_get_head_and_refuse_other_methods() {
    let server = start(config()).await;
    let client = client();

    for path in ["/json", "/json?a=1"] {
        let get = client.get(server.url(path)).send().await.unwrap();
        assert_eq!(get.status(), 200);
        assert_eq!(get.headers()["content-type"], "application/json");
        assert_eq!(get.headers()["content-length"], "27");
        assert_eq!(get.headers()["server"], "chopin");
        assert!(get.headers().contains_key("date"));
        // Fast routes log nothing, so there is no generated id to correlate.
        assert!(!get.headers().contains_key("x-request-id"));
        assert_eq!(get.text().await.unwrap(), r#"{"message":"Hello, World!"}"#);
    }

    let text = client.get(server.url("/plaintext")).send().await.unwrap();
    assert_eq!(text.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(text.text().await.unwrap(), "Hello, World!");

    let head = client.head(server.url("/json")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], "application/json");
    assert_eq!(head.headers()["content-length"], "27");
    assert_eq!(head.bytes().await.unwrap().len(), 0);

    for method in [reqwest::Method::POST, reqwest::Method::DELETE] {
        let refused = client
            .request(method, server.url("/json"))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.headers()["allow"], "GET,HEAD");
        json_error(refused, 405, "method_not_allowed").await;
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
#[should_panic(expected = "fast route \"/json\" is registered twice")]
async fn duplicate_fast_route_panics_at_registration() {
    let _ = App::with_config(config())
        .await
        .unwrap()
        .fast_route(FastRoute::json("/json", "{}"))
        .fast_route(FastRoute::text("/json", "again"));
}

#[test]
#[should_panic(expected = "must be a static path")]
fn fast_route_paths_must_be_static() {
    let _ = FastRoute::text("/users/{id}", "no");
}

#[tokio::test]
async fn unknown_path_is_a_json_404() {
    let server = start(config()).await;
    let response = client().get(server.url("/nope")).send().await.unwrap();
    let body = json_error(response, 404, "not_found").await;
    assert_eq!(body["message"], "no route for /nope");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn wrong_method_on_user_route_is_a_json_405() {
    let server = start(config()).await;
    let response = client().get(server.url("/items")).send().await.unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    json_error(response, 405, "method_not_allowed").await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn json_extractor_rejections_use_the_error_shape() {
    let server = start(config()).await;
    let client = client();

    let ok = client
        .post(server.url("/items"))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.json::<Value>().await.unwrap(), json!({"name": "x"}));

    let malformed = client
        .post(server.url("/items"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let body = json_error(malformed, 400, "bad_request").await;
    assert!(body["message"].as_str().unwrap().contains("JSON"), "{body}");

    let untyped = client
        .post(server.url("/items"))
        .body(r#"{"name":"x"}"#)
        .send()
        .await
        .unwrap();
    json_error(untyped, 415, "unsupported_media_type").await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn request_id_is_echoed_or_generated() {
    let server = start(config()).await;
    let client = client();

    let echoed = client
        .get(server.url("/json"))
        .header("x-request-id", "client-chosen-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "client-chosen-42");

    let error = client
        .get(server.url("/missing"))
        .header("x-request-id", "client-chosen-43")
        .send()
        .await
        .unwrap();
    let body = json_error(error, 404, "not_found").await;
    assert_eq!(body["request_id"], "client-chosen-43");

    let a = client.get(server.url("/")).send().await.unwrap();
    let b = client.get(server.url("/")).send().await.unwrap();
    let (a, b) = (&a.headers()["x-request-id"], &b.headers()["x-request-id"]);
    assert!(!a.is_empty() && !b.is_empty());
    assert_ne!(a, b);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn panicking_handler_is_a_500_and_the_server_keeps_serving() {
    let server = start(config()).await;
    let client = client();
    for _ in 0..3 {
        let response = client.get(server.url("/panic")).send().await.unwrap();
        let body = json_error(response, 500, "internal_error").await;
        assert!(!body.to_string().contains("secret panic detail"));
        let next = client.get(server.url("/plaintext")).send().await.unwrap();
        assert_eq!(next.status(), 200);
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn body_over_the_limit_is_a_413() {
    let mut config = config();
    config.body_limit = 1024;
    let server = start(config).await;
    let client = client();

    let small = client
        .post(server.url("/echo"))
        .body(vec![b'a'; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(small.text().await.unwrap(), "1024");

    let large = client
        .post(server.url("/echo"))
        .body(vec![b'a'; 1025])
        .send()
        .await
        .unwrap();
    json_error(large, 413, "payload_too_large").await;

    // Without Content-Length (chunked), the limit applies while the body is read.
    let chunked = |len: usize| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let half = "a".repeat(len / 2);
        let request = format!(
            "POST /echo HTTP/1.1\r\nHost: test\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n\
             {n:x}\r\n{half}\r\n{n:x}\r\n{half}\r\n0\r\n\r\n",
            n = half.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    };
    let small = chunked(1024).await;
    assert!(small.starts_with("HTTP/1.1 200"), "{small}");
    assert!(small.ends_with("\r\n\r\n1024"), "{small}");
    let large = chunked(4096).await;
    assert!(large.starts_with("HTTP/1.1 413"), "{large}");
    assert!(large.contains(r#""error":"payload_too_large""#), "{large}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn slow_handler_times_out_with_a_503_and_retry_after() {
    let mut config = config();
    config.request_timeout = Some(Duration::from_millis(100));
    let server = start(config).await;
    let response = client().get(server.url("/slow")).send().await.unwrap();
    // Not 408, which clients resend on their own, POSTs included.
    assert_eq!(response.headers()["retry-after"], "1");
    json_error(response, 503, "request_timeout").await;
    server.shutdown().await.unwrap();
}

/// A response body that never yields a frame.
struct Endless;

impl hyper::body::Body for Endless {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

/// A response body of 64 KiB frames without end.
struct Huge;

impl hyper::body::Body for Huge {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(bytes::Bytes::from(
            vec![b'x'; 64 * 1024],
        )))))
    }
}

#[tokio::test]
async fn error_bodies_that_never_end_are_answered_promptly() {
    fn error(status: StatusCode, body: axum::body::Body) -> axum::response::Response {
        let mut response = axum::response::Response::new(body);
        *response.status_mut() = status;
        response
    }
    let routes = Router::new()
        .route(
            "/stalls",
            get(|| async {
                error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    axum::body::Body::new(Endless),
                )
            }),
        )
        .route(
            "/huge",
            get(|| async { error(StatusCode::BAD_REQUEST, axum::body::Body::new(Huge)) }),
        )
        .route(
            "/short",
            get(|| async { (StatusCode::CONFLICT, "already there") }),
        );
    let mut config = config();
    // The error body wait is bounded by the request timeout when it is shorter.
    config.request_timeout = Some(Duration::from_millis(300));
    let server = start_app(App::with_config(config).await.unwrap().router(routes)).await;
    let client = client();
    for (path, status, code, message) in [
        ("/stalls", 500, "internal_error", "internal server error"),
        ("/huge", 400, "bad_request", "bad request"),
        ("/short", 409, "conflict", "already there"),
    ] {
        let response =
            tokio::time::timeout(Duration::from_secs(10), client.get(server.url(path)).send())
                .await
                .unwrap_or_else(|_| panic!("{path}: no answer"))
                .unwrap();
        let body =
            tokio::time::timeout(Duration::from_secs(10), json_error(response, status, code))
                .await
                .unwrap_or_else(|_| panic!("{path}: body never ended"));
        assert_eq!(body["message"], message, "{path}");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn security_headers_on_router_responses_only() {
    let routes = Router::new().route(
        "/framed",
        get(|| async { ([("x-frame-options", "SAMEORIGIN")], "mine") }),
    );
    let server = start_app(common::app(config()).await.router(routes)).await;
    let client = client();
    let api_policy = "default-src 'none'; frame-ancestors 'none'";

    for path in [
        "/",
        "/nope",
        "/api-docs/openapi.json",
        "/framed",
        "/api/auth/me",
    ] {
        let response = client.get(server.url(path)).send().await.unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(
            headers["cross-origin-opener-policy"], "same-origin",
            "{path}"
        );
        assert_eq!(
            headers["cross-origin-resource-policy"], "same-origin",
            "{path}"
        );
        let frame = if path == "/framed" {
            "SAMEORIGIN"
        } else {
            "DENY"
        };
        assert_eq!(headers["x-frame-options"], frame, "{path}");
        assert_eq!(headers.get_all("x-frame-options").iter().count(), 1);
        if path == "/api-docs/openapi.json" {
            assert!(
                headers["content-security-policy"]
                    .to_str()
                    .unwrap()
                    .contains("script-src 'self'")
            );
        } else {
            assert_eq!(headers["content-security-policy"], api_policy, "{path}");
        }
        let no_store = path.starts_with("/api/auth/");
        assert_eq!(
            headers
                .get("cache-control")
                .is_some_and(|v| v == "no-store"),
            no_store,
            "{path}"
        );
    }

    let page = client.get(server.url("/api-docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }

    let login = client
        .post(server.url("/api/auth/login"))
        .json(&json!({"email": "a@example.com", "password": "whatever it is"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 401);
    assert_eq!(login.headers()["cache-control"], "no-store");

    // Fast routes answer exactly what was registered.
    let fast = client.get(server.url("/json")).send().await.unwrap();
    for name in [
        "x-content-type-options",
        "x-frame-options",
        "content-security-policy",
        "referrer-policy",
        "cache-control",
    ] {
        assert!(!fast.headers().contains_key(name), "{name} on a fast route");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn implausible_client_request_ids_are_replaced() {
    let server = start(config()).await;
    let client = client();
    let long = "a".repeat(65);
    for sent in ["has space", "quote\"", long.as_str(), "semi;colon"] {
        let response = client
            .get(server.url("/nope"))
            .header("x-request-id", sent)
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_ne!(id, sent);
        let (prefix, counter) = id.split_once('-').expect("generated id");
        assert_eq!(prefix.len(), 16, "64 random bits: {id}");
        assert!(prefix.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        assert!(u64::from_str_radix(counter, 16).is_ok(), "{id}");
        let body = json_error(response, 404, "not_found").await;
        assert!(!body.to_string().contains(sent), "{body}");

        // A fast route echoes only an id the router would keep.
        let fast = client
            .get(server.url("/json"))
            .header("x-request-id", sent)
            .send()
            .await
            .unwrap();
        assert_eq!(fast.status(), 200);
        assert!(!fast.headers().contains_key("x-request-id"), "{sent}");
    }
    let kept = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let response = client
        .get(server.url("/"))
        .header("x-request-id", kept)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], kept);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn user_router_with_state() {
    #[derive(Clone)]
    struct Greeting(&'static str);
    let router = Router::new()
        .route(
            "/greet",
            get(|State(g): State<Greeting>| async move { g.0 }),
        )
        .with_state(Greeting("bonjour"));
    let app = App::with_config(config()).await.unwrap().router(router);
    let server = start_app(app).await;
    let response = client().get(server.url("/greet")).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "bonjour");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn cors_is_closed_by_default_and_opens_per_origin() {
    let closed = start(config()).await;
    let response = client()
        .get(closed.url("/json"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin")
    );
    closed.shutdown().await.unwrap();

    let mut config = config();
    config.cors_origins =
        CorsOrigins::List(vec![HeaderValue::from_static("https://app.example.com")]);
    let open = start(config).await;
    let client = client();
    let preflight = client
        .request(reqwest::Method::OPTIONS, open.url("/items"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let other = client
        .get(open.url("/json"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    open.shutdown().await.unwrap();
}

#[tokio::test]
async fn port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = config();
    config.port = taken.local_addr().unwrap().port();
    let error = App::with_config(config)
        .await
        .unwrap()
        .bind()
        .await
        .expect_err("port is taken");
    assert!(error.is_bind());
    let message = error.to_string();
    assert!(
        message.starts_with("cannot listen on 127.0.0.1:"),
        "{message}"
    );
    assert!(message.contains("in use"), "{message}");
}

#[tokio::test]
async fn host_names_resolve() {
    let mut config = config();
    config.host = "localhost".to_owned();
    let app = App::with_config(config).await.unwrap();
    let server = start_app(app).await;
    let response = client().get(server.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    server.shutdown().await.unwrap();
}

/// A documented user route, as `App::api_router` takes it.
#[utoipa::path(get, path = "/books/count", tag = "books", responses((status = 200, body = u64)))]
async fn book_count() -> axum::Json<u64> {
    axum::Json(3)
}

#[tokio::test]
async fn openapi_document_describes_every_mounted_route() {
    #[derive(utoipa::OpenApi)]
    #[openapi(info(title = "Bookshop", version = "2.1.0"))]
    struct BookshopApi;

    let app = common::app(config())
        .await
        .api_router(
            utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(book_count)),
        )
        .openapi(<BookshopApi as utoipa::OpenApi>::openapi());
    let server = start_app(app).await;
    let doc: Value = client()
        .get(server.url("/api-docs/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Bookshop");
    assert_eq!(doc["info"]["version"], "2.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut listed: Vec<&str> = paths.keys().map(String::as_str).collect();
    listed.sort_unstable();
    assert_eq!(
        listed,
        [
            "/",
            "/api/auth/login",
            "/api/auth/logout",
            "/api/auth/logout-all",
            "/api/auth/me",
            "/api/auth/password",
            "/api/auth/password/forgot",
            "/api/auth/password/reset",
            "/api/auth/refresh",
            "/api/auth/signup",
            "/api/auth/verify",
            "/api/auth/verify/resend",
            "/books/count",
            "/computed",
            "/healthz",
            "/json",
            "/plaintext",
            "/readyz"
        ]
    );
    let computed = &paths["/computed"]["get"];
    assert!(
        computed["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("Computed response")),
        "{computed}"
    );
    let signup = &paths["/api/auth/signup"]["post"];
    assert_eq!(
        signup["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/SignupRequest"
    );
    for status in [
        "201", "202", "400", "409", "413", "415", "422", "429", "503",
    ] {
        assert!(
            signup["responses"][status].is_object(),
            "signup documents {status}"
        );
    }
    assert_eq!(
        paths["/api/auth/me"]["get"]["security"],
        json!([{"bearer": []}])
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"],
        json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    );
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["required"], json!(["error", "message", "status"]));
    assert_eq!(
        paths["/json"]["get"]["responses"]["200"]["content"]["application/json"]["example"],
        json!({"message": "Hello, World!"})
    );
    assert!(paths["/plaintext"]["head"].is_object());

    // The documented route is served too, through the middleware.
    let response = client()
        .get(server.url("/books/count"))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(response.text().await.unwrap(), "3");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bad_host_gets_the_json_400_with_request_id_and_security_headers() {
    for mode in [ServerMode::Standard, ServerMode::Performance] {
        let server = start(common::config_in(mode)).await;
        // A fast route too: `Host` is checked before them.
        for path in ["/nope", "/json", "/api/auth/me"] {
            let response = client()
                .get(server.url(path))
                .header("host", "user@example.com")
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.headers()["x-content-type-options"],
                "nosniff",
                "{mode:?} {path}"
            );
            let body = json_error(response, 400, "bad_request").await;
            assert_eq!(
                body["message"], "missing or invalid Host header",
                "{mode:?} {path}"
            );
        }
        server.shutdown().await.unwrap();
    }
}
