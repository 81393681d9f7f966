//! Client addresses and rate limits over real sockets, in both server modes: the peer
//! reaches every request, forwarding headers count only from a trusted proxy, and a
//! limit refuses one client while others pass.

mod common;

use std::{
    collections::HashSet,
    net::{IpAddr, SocketAddr},
};

use axum::{
    Router, body::Body, extract::ConnectInfo, middleware::map_response, response::Response,
    routing::get,
};
use chopin_core::{ClientIp, Config, ServerMode, rate_limit::RateLimit, tower::ServiceExt};
use common::{Running, config_in, start_app, within};
use http::{HeaderValue, Request, StatusCode};
use serde_json::Value;

/// Standard mode, and performance mode with and without the fast lane (the router's
/// requests reach it straight from hyper, or handed over by the fast lane).
fn modes() -> [(&'static str, Config); 3] {
    let mut no_fast_lane = config_in(ServerMode::Performance);
    no_fast_lane.fast_lane = false;
    [
        ("standard", config_in(ServerMode::Standard)),
        ("performance", config_in(ServerMode::Performance)),
        ("performance, fast lane off", no_fast_lane),
    ]
}

/// Names the thread that answered, refusals included: which worker served a connection.
async fn thread_header(mut response: Response) -> Response {
    let name = std::thread::current().name().unwrap_or("").to_owned();
    if let Ok(value) = HeaderValue::from_str(&name) {
        response.headers_mut().insert("x-thread", value);
    }
    response
}

/// `/limited` (2 a minute) and `/shared` (3 a minute) answer the client address;
/// `/whoami` and `/peer` are not limited.
async fn start(config: Config) -> Running {
    let whoami = get(|ClientIp(ip): ClientIp| async move { ip.to_string() });
    let routes = Router::new()
        .route("/limited", whoami.clone().layer(RateLimit::per_minute(2)))
        .route(
            "/shared",
            whoami
                .clone()
                .layer(RateLimit::per_minute(3))
                .layer(map_response(thread_header)),
        )
        .route("/whoami", whoami)
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        );
    start_app(common::app(config).await.router(routes)).await
}

/// A client whose connections come from `source` (Linux routes all of 127/8 to `lo`),
/// one connection per request when `fresh` (so performance mode spreads them over its
/// workers).
fn client_from(source: &str, fresh: bool) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .timeout(common::EVENT_TIMEOUT)
        .local_address(source.parse::<IpAddr>().expect("IP"));
    if fresh {
        builder = builder.pool_max_idle_per_host(0);
    }
    builder.build().expect("client")
}

async fn get_text(
    client: &reqwest::Client,
    server: &Running,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut request = client.get(server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = within(&format!("an answer to {path}"), request.send())
        .await
        .expect("send");
    let status = response.status();
    (status, response.text().await.expect("body"))
}

#[tokio::test]
async fn every_router_request_has_its_peer_in_both_modes() {
    for (mode, config) in modes() {
        let server = start(config).await;
        let h2 = reqwest::Client::builder()
            .no_proxy()
            .http2_prior_knowledge()
            .local_address("127.0.0.2".parse::<IpAddr>().expect("IP"))
            .timeout(common::EVENT_TIMEOUT)
            .build()
            .expect("client");
        // Each client, and its idle connection, is gone before the server shuts down.
        for client in [client_from("127.0.0.2", false), h2] {
            let (status, peer) = get_text(&client, &server, "/peer", &[]).await;
            assert_eq!(status, StatusCode::OK, "{mode}");
            let peer: SocketAddr = peer.parse().expect("a socket address");
            assert_eq!(peer.ip().to_string(), "127.0.0.2", "{mode}");
            assert_ne!(peer.port(), 0, "{mode}");
            let (_, client_ip) = get_text(&client, &server, "/whoami", &[]).await;
            assert_eq!(client_ip, "127.0.0.2", "{mode}");
        }
        server.shutdown().await.expect("clean shutdown");
    }
}

#[tokio::test]
async fn over_the_limit_is_a_429_with_retry_after_while_other_addresses_pass() {
    for (mode, config) in modes() {
        let server = start(config).await;
        let first = client_from("127.0.0.1", false);
        for _ in 0..2 {
            let (status, body) = get_text(&first, &server, "/limited", &[]).await;
            assert_eq!(
                (status, body.as_str()),
                (StatusCode::OK, "127.0.0.1"),
                "{mode}"
            );
        }
        let response = within("the refusal", first.get(server.url("/limited")).send())
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "{mode}");
        let headers = response.headers().clone();
        let retry_after: u64 = headers["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("whole seconds");
        // Two a minute: one comes back every 30 seconds.
        assert!((1..=30).contains(&retry_after), "{mode}: {retry_after}");
        assert_eq!(headers["content-type"], "application/json", "{mode}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"], "too_many_requests", "{mode}: {body}");
        assert_eq!(body["status"], 429, "{mode}: {body}");
        assert_eq!(
            body["message"],
            format!("too many requests: try again in {retry_after} seconds"),
            "{mode}"
        );
        assert_eq!(
            body["request_id"],
            headers["x-request-id"].to_str().unwrap()
        );

        // Another client address has its own bucket; unlimited routes are untouched.
        let second = client_from("127.0.0.2", false);
        let (status, body) = get_text(&second, &server, "/limited", &[]).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "127.0.0.2"),
            "{mode}"
        );
        let (status, _) = get_text(&first, &server, "/whoami", &[]).await;
        assert_eq!(status, StatusCode::OK, "{mode}");
        drop((first, second));
        server.shutdown().await.expect("clean shutdown");
    }
}

#[tokio::test]
async fn one_limit_holds_across_performance_mode_workers() {
    let server = start(config_in(ServerMode::Performance)).await;
    let client = client_from("127.0.0.3", true);
    for _ in 0..3 {
        let (status, _) = get_text(&client, &server, "/shared", &[]).await;
        assert_eq!(status, StatusCode::OK);
    }
    // Each request on a connection of its own, until both workers have refused one:
    // a limit per worker would let the second worker allow three more.
    let mut refused_by = HashSet::new();
    for _ in 0..64 {
        let response = within("an answer", client.get(server.url("/shared")).send())
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        refused_by.insert(response.headers()["x-thread"].to_str().unwrap().to_owned());
        if refused_by.len() == 2 {
            break;
        }
    }
    assert_eq!(
        refused_by,
        HashSet::from(["chopin-worker-0".to_owned(), "chopin-worker-1".to_owned()]),
        "64 connections never reached both workers"
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_change_nothing() {
    for (mode, mut config) in modes() {
        // Trusting proxies elsewhere does not make the loopback peer one.
        config.trusted_proxies = "10.0.0.0/8".parse().expect("proxies");
        let server = start(config).await;
        let client = client_from("127.0.0.1", false);
        let forged = [
            [("x-forwarded-for", "203.0.113.1")],
            [("x-forwarded-for", "203.0.113.2, 10.0.0.1")],
            [("forwarded", "for=203.0.113.3")],
        ];
        let (_, whoami) = get_text(&client, &server, "/whoami", &forged[0]).await;
        assert_eq!(whoami, "127.0.0.1", "{mode}");
        for headers in &forged[..2] {
            let (status, body) = get_text(&client, &server, "/limited", headers).await;
            assert_eq!(
                (status, body.as_str()),
                (StatusCode::OK, "127.0.0.1"),
                "{mode}"
            );
        }
        // Every forged address counted against the peer's one bucket.
        let (status, _) = get_text(&client, &server, "/limited", &forged[2]).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{mode}");
        drop(client);
        server.shutdown().await.expect("clean shutdown");
    }
}

#[tokio::test]
async fn forwarding_headers_from_a_trusted_peer_name_the_client() {
    for (mode, mut config) in modes() {
        config.trusted_proxies = "127.0.0.1".parse().expect("proxies");
        let server = start(config).await;
        let proxy = client_from("127.0.0.1", false);
        let xff = |value| [("x-forwarded-for", value)];
        for (headers, client) in [
            (&xff("203.0.113.1")[..], "203.0.113.1"),
            // The leftmost entry is whatever the client sent; the proxy appended the rest.
            (&xff("198.51.100.9, 203.0.113.2")[..], "203.0.113.2"),
            (&xff("203.0.113.3, 127.0.0.1")[..], "203.0.113.3"),
            (
                &[("forwarded", "for=203.0.113.4;proto=https")][..],
                "203.0.113.4",
            ),
            (&xff("203.0.113.5, not-an-address")[..], "127.0.0.1"),
            (&[][..], "127.0.0.1"),
        ] {
            let (_, whoami) = get_text(&proxy, &server, "/whoami", headers).await;
            assert_eq!(whoami, client, "{mode}: {headers:?}");
        }

        // Each forwarded client has its own bucket, whatever proxy connection it comes on.
        for _ in 0..2 {
            let (status, body) = get_text(&proxy, &server, "/limited", &xff("203.0.113.7")).await;
            assert_eq!(
                (status, body.as_str()),
                (StatusCode::OK, "203.0.113.7"),
                "{mode}"
            );
        }
        let (status, _) = get_text(&proxy, &server, "/limited", &xff("203.0.113.7")).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{mode}");
        let (status, body) = get_text(&proxy, &server, "/limited", &xff("203.0.113.8")).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "203.0.113.8"),
            "{mode}"
        );

        // A peer that is not the proxy still cannot name itself.
        let other = client_from("127.0.0.2", false);
        let (_, whoami) = get_text(&other, &server, "/whoami", &xff("203.0.113.9")).await;
        assert_eq!(whoami, "127.0.0.2", "{mode}");
        drop((proxy, other));
        server.shutdown().await.expect("clean shutdown");
    }
}

#[tokio::test]
async fn requests_without_a_peer_share_one_bucket() {
    let limited = Router::new()
        .route("/limited", get(|| async { "ok" }))
        .route_layer(RateLimit::per_minute(1))
        .route(
            "/whoami",
            get(|client: Option<ClientIp>| async move { format!("{client:?}") }),
        )
        .route(
            "/strict",
            get(|ClientIp(ip): ClientIp| async move { ip.to_string() }),
        );
    let router = common::app(config_in(ServerMode::Standard))
        .await
        .router(limited)
        .into_router();
    let get = |path: &str| {
        let request = Request::get(path).header("host", "localhost");
        request.body(Body::empty()).unwrap()
    };
    let status = |path: &'static str| {
        let router = router.clone();
        async move { router.oneshot(get(path)).await.unwrap().status() }
    };
    assert_eq!(status("/limited").await, StatusCode::OK);
    assert_eq!(status("/limited").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(status("/strict").await, StatusCode::INTERNAL_SERVER_ERROR);
    let response = router.oneshot(get("/whoami")).await.unwrap();
    let body = axum::body::to_bytes(response.into_body(), 64)
        .await
        .unwrap();
    assert_eq!(body, "None");
}
