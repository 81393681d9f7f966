//! The application over real sockets, talked to with a real HTTP client.

mod common;

use std::time::Duration;

use axum::{Router, extract::State, routing::get};
use chopin_core::{App, CorsOrigins, FastRoute};
use common::{client, config, start, start_app};
use http::HeaderValue;
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
    assert_eq!(body["message"], "no route for GET /nope");
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
async fn slow_handler_times_out_with_a_408() {
    let mut config = config();
    config.request_timeout = Some(Duration::from_millis(100));
    let server = start(config).await;
    let response = client().get(server.url("/slow")).send().await.unwrap();
    json_error(response, 408, "request_timeout").await;
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
            "/api/auth/me",
            "/api/auth/signup",
            "/books/count",
            "/json",
            "/plaintext"
        ]
    );
    let signup = &paths["/api/auth/signup"]["post"];
    assert_eq!(
        signup["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/SignupRequest"
    );
    for status in ["201", "400", "409", "413", "415", "422", "503"] {
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
