//! The connection policy, the same in both modes: answers are written before a
//! connection closes, malformed heads get their 4xx, timeouts, the head limit, the
//! connection cap, a client that stops reading, upgrades and HTTP/2.

mod common;

use std::time::Duration;

use axum::{
    Router,
    extract::ws::{Message, WebSocket, WebSocketUpgrade},
    routing::get,
};
use chopin_core::ServerMode;
use common::{
    Running, app, config_in,
    raw::{connect, read_responses, read_statuses, statuses_until_close},
    start_app,
};
use futures_util::{SinkExt, StreamExt};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const MODES: [ServerMode; 2] = [ServerMode::Standard, ServerMode::Performance];

/// Every wait in this file fails the test after this long instead of hanging it.
const LIMIT: Duration = Duration::from_secs(15);

const GET_JSON: &str = "GET /json HTTP/1.1\r\nHost: localhost\r\n\r\n";

async fn start(mode: ServerMode, tune: impl FnOnce(&mut chopin_core::Config)) -> Running {
    let mut config = config_in(mode);
    tune(&mut config);
    let app = app(config).await.router(
        Router::new()
            .route("/ws", get(echo_upgrade))
            .route("/big", get(|| async { "x".repeat(256 * 1024) })),
    );
    start_app(app).await
}

async fn echo_upgrade(upgrade: WebSocketUpgrade) -> axum::response::Response {
    upgrade.on_upgrade(|mut socket: WebSocket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Text(_) | Message::Binary(_))
                && socket.send(message).await.is_err()
            {
                break;
            }
        }
    })
}

fn signup(name: &str) -> String {
    let body = format!(
        r#"{{"email":"{name}@example.com","username":"{name}","password":"correct horse battery"}}"#
    );
    format!(
        "POST /api/auth/signup HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_before_a_malformed_request_are_written_and_it_gets_its_4xx() {
    let huge_uri = format!(
        "GET /{} HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "a".repeat(100_000)
    );
    let huge_head = format!(
        "GET /json HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
        "b".repeat(40 * 1024)
    );
    let malformed: [(&str, String, &[u16]); 6] = [
        ("garbage", "\u{1}\u{2} garbage\r\n\r\n".to_owned(), &[400]),
        ("NUL in the path", "GET /a\0b HTTP/1.1\r\nHost: localhost\r\n\r\n".to_owned(), &[400]),
        ("100 KB URI", huge_uri, &[414, 431]),
        (
            "two different Content-Lengths",
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_owned(),
            &[400],
        ),
        (
            "bad chunk size",
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n".to_owned(),
            &[400],
        ),
        ("head over the limit", huge_head, &[431]),
    ];
    for mode in MODES {
        let server = start(mode, |_| {}).await;
        for (index, (name, bad, expected)) in malformed.iter().enumerate() {
            let mut stream = connect(&server).await;
            let user = format!("{mode:?}{index}").to_lowercase();
            let sent = format!("{GET_JSON}{}{bad}", signup(&user));
            stream.write_all(sent.as_bytes()).await.expect("write");
            let statuses = statuses_until_close(&mut stream).await;
            assert_eq!(statuses.len(), 3, "{mode:?}, {name}: {statuses:?}");
            assert_eq!(
                &statuses[..2],
                [200, 201],
                "{mode:?}, {name}: earlier answers"
            );
            assert!(
                expected.contains(&statuses[2]),
                "{mode:?}, {name}: {} not in {expected:?}",
                statuses[2]
            );
        }
        server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_is_sent_without_waiting_for_the_next_pipelined_request() {
    for mode in MODES {
        // A header-read timeout far beyond LIMIT: only sending at once can pass.
        let server = start(mode, |c| {
            c.header_read_timeout = Some(Duration::from_secs(600))
        })
        .await;
        let mut stream = connect(&server).await;
        stream
            .write_all(format!("{GET_JSON}GET /json HTTP/1.1\r\nHo").as_bytes())
            .await
            .expect("write");
        assert_eq!(read_statuses(&mut stream, 1).await, [200], "{mode:?}");
        stream
            .write_all(b"st: localhost\r\n\r\n")
            .await
            .expect("write");
        assert_eq!(
            read_statuses(&mut stream, 1).await,
            [200],
            "{mode:?}: the second"
        );
        server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_and_idle_connections_are_closed_in_both_modes() {
    for mode in MODES {
        let server = start(mode, |c| {
            c.header_read_timeout = Some(Duration::from_secs(1))
        })
        .await;

        let mut silent = connect(&server).await;
        assert!(
            statuses_until_close(&mut silent).await.is_empty(),
            "{mode:?}: silent"
        );

        let mut slowloris = connect(&server).await;
        slowloris
            .write_all(b"GET /json HTTP/1.1\r\nHost: localhost\r\n")
            .await
            .expect("write");
        assert!(
            statuses_until_close(&mut slowloris).await.is_empty(),
            "{mode:?}: slow head"
        );

        let mut idle = connect(&server).await;
        idle.write_all(GET_JSON.as_bytes()).await.expect("write");
        assert_eq!(
            statuses_until_close(&mut idle).await,
            [200],
            "{mode:?}: idle keep-alive"
        );
        server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_connection_cap_waits_without_harming_served_connections() {
    for mode in MODES {
        let server = start(mode, |c| c.max_connections = 1).await;
        let mut served = connect(&server).await;
        served.write_all(GET_JSON.as_bytes()).await.expect("write");
        assert_eq!(read_statuses(&mut served, 1).await, [200]);

        let mut waiting = connect(&server).await;
        waiting.write_all(GET_JSON.as_bytes()).await.expect("write");
        let mut byte = [0u8; 1];
        let early = tokio::time::timeout(Duration::from_millis(300), waiting.read(&mut byte)).await;
        assert!(early.is_err(), "{mode:?}: no answer beyond the cap");

        served.write_all(GET_JSON.as_bytes()).await.expect("write");
        assert_eq!(
            read_statuses(&mut served, 1).await,
            [200],
            "{mode:?}: still served"
        );
        drop(served);
        assert_eq!(
            read_statuses(&mut waiting, 1).await,
            [200],
            "{mode:?}: served once a slot frees"
        );
        server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_after_the_write_timeout() {
    // A router route (hyper writes) in both modes, and a fast route (the fast lane
    // writes in performance mode).
    for (mode, request, repeat) in [
        (
            ServerMode::Standard,
            "GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n",
            64,
        ),
        (
            ServerMode::Performance,
            "GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n",
            64,
        ),
        (ServerMode::Performance, GET_JSON, 20_000),
    ] {
        let server = start(mode, |c| {
            c.max_connections = 1;
            c.write_timeout = Some(Duration::from_secs(1));
        })
        .await;
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .set_recv_buffer_size(4096)
            .expect("small receive buffer");
        let stuck = tokio::time::timeout(LIMIT, socket.connect(server.addr))
            .await
            .expect("connect in time")
            .expect("connect");
        let (_reader, mut writer) = stuck.into_split();
        // Pipelines without ever reading: the answers fill both socket buffers, the
        // server's writes stall, then it stops reading and this writer blocks.
        let pipeline = request.repeat(repeat);
        let writing =
            tokio::spawn(
                async move { while writer.write_all(pipeline.as_bytes()).await.is_ok() {} },
            );
        let mut next = connect(&server).await;
        next.write_all(GET_JSON.as_bytes()).await.expect("write");
        assert_eq!(
            read_statuses(&mut next, 1).await,
            [200],
            "{mode:?} {request:?}: the slot of the stuck client is freed"
        );
        tokio::time::timeout(LIMIT, writing)
            .await
            .expect("the stuck client's connection is closed")
            .expect("writer");
        server.shutdown().await.expect("shutdown");
    }
}

/// Sends `text` on `socket` and returns the text message that comes back.
async fn echo<S>(socket: &mut tokio_tungstenite::WebSocketStream<S>, text: &str) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    socket
        .send(tokio_tungstenite::tungstenite::Message::text(text))
        .await
        .expect("send");
    let echoed = tokio::time::timeout(LIMIT, socket.next())
        .await
        .expect("echo in time")
        .expect("a message")
        .expect("a frame");
    echoed.into_text().expect("text").as_str().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_work_in_both_modes() {
    for mode in MODES {
        let server = start(mode, |_| {}).await;
        let stream = connect(&server).await;
        let url = format!("ws://{}/ws", server.addr);
        let (mut socket, response) =
            tokio::time::timeout(LIMIT, tokio_tungstenite::client_async(url, stream))
                .await
                .expect("handshake in time")
                .expect("handshake");
        assert_eq!(response.status(), 101, "{mode:?}");
        for text in ["hello", "again"] {
            assert_eq!(echo(&mut socket, text).await, text, "{mode:?}");
        }
        socket.close(None).await.expect("close");
        server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_with_prior_knowledge_works_in_both_modes() {
    let client = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .timeout(LIMIT)
        .build()
        .expect("client");
    for mode in MODES {
        let server = start(mode, |_| {}).await;
        for (path, status) in [("/json", 200), ("/", 200), ("/nope", 404)] {
            let response = client.get(server.url(path)).send().await.expect("send");
            assert_eq!(
                response.version(),
                reqwest::Version::HTTP_2,
                "{mode:?} {path}"
            );
            assert_eq!(response.status(), status, "{mode:?} {path}");
            assert!(response.headers().contains_key("x-request-id") || path == "/json");
        }
        server.shutdown().await.expect("shutdown");
    }
}

/// Reads one response head byte by byte, so nothing after it is consumed.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    tokio::time::timeout(LIMIT, async {
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            assert_eq!(stream.read(&mut byte).await.expect("read"), 1, "{head:?}");
            head.push(byte[0]);
        }
    })
    .await
    .expect("a response head");
    String::from_utf8(head).expect("ASCII head")
}

const JSON_BODY: &[u8] = br#"{"message":"Hello, World!"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_split_at_every_byte_offset_are_answered() {
    let server = start(ServerMode::Performance, |_| {}).await;
    let pipeline = format!("{GET_JSON}GET / HTTP/1.1\r\nHost: localhost\r\n\r\n{GET_JSON}");
    let bytes = pipeline.as_bytes();
    for offset in 1..bytes.len() {
        let mut stream = connect(&server).await;
        stream.set_nodelay(true).expect("nodelay");
        stream.write_all(&bytes[..offset]).await.expect("write");
        if offset == GET_JSON.len() {
            // A whole request: its answer arrives before the rest is sent.
            assert_eq!(read_responses(&mut stream, 1).await[0].1, JSON_BODY);
            stream.write_all(&bytes[offset..]).await.expect("write");
            let rest = read_responses(&mut stream, 2).await;
            assert_eq!((rest[0].0, rest[1].1.as_slice()), (200, JSON_BODY));
            continue;
        }
        tokio::task::yield_now().await;
        stream.write_all(&bytes[offset..]).await.expect("write");
        let answers = read_responses(&mut stream, 3).await;
        let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
        assert_eq!(statuses, [200, 200, 200], "split at {offset}");
        assert_eq!(answers[0].1, JSON_BODY, "split at {offset}");
        assert!(
            String::from_utf8_lossy(&answers[1].1).contains(r#""framework":"chopin""#),
            "split at {offset}: the welcome document"
        );
        assert_eq!(answers[2].1, JSON_BODY, "split at {offset}");
    }
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_pipelined_requests_get_their_answers_in_order() {
    for (mode, fast_lane) in [
        (ServerMode::Performance, true),
        (ServerMode::Performance, false),
        (ServerMode::Standard, false),
    ] {
        let server = start(mode, |c| c.fast_lane = fast_lane).await;
        let mut stream = connect(&server).await;
        let mut pipeline = String::new();
        for i in 0..64 {
            pipeline.push_str(match i % 3 {
                0 => GET_JSON,
                1 => "GET /plaintext?n=1 HTTP/1.1\r\nHost: localhost\r\n\r\n",
                _ => "HEAD /json HTTP/1.1\r\nHost: localhost\r\n\r\n",
            });
        }
        stream.write_all(pipeline.as_bytes()).await.expect("write");
        let mut received = Vec::new();
        tokio::time::timeout(LIMIT, async {
            // HEAD answers carry a Content-Length but no body: count heads instead.
            while received
                .windows(15)
                .filter(|w| *w == b"HTTP/1.1 200 OK")
                .count()
                < 64
                || !received.ends_with(JSON_BODY)
            {
                let mut chunk = [0u8; 64 * 1024];
                let n = stream.read(&mut chunk).await.expect("read");
                assert!(n > 0, "{mode:?}: closed early");
                received.extend_from_slice(&chunk[..n]);
            }
        })
        .await
        .expect("64 answers");
        let text = String::from_utf8(received).expect("ASCII");
        let bodies: Vec<&str> = text
            .split("HTTP/1.1 200 OK\r\n")
            .skip(1)
            .map(|answer| answer.split_once("\r\n\r\n").expect("a head").1)
            .collect();
        assert_eq!(bodies.len(), 64, "{mode:?}, fast lane {fast_lane}");
        for (i, body) in bodies.iter().enumerate() {
            let expected = match i % 3 {
                0 => r#"{"message":"Hello, World!"}"#,
                1 => "Hello, World!",
                _ => "",
            };
            assert_eq!(
                *body, expected,
                "{mode:?}, fast lane {fast_lane}: answer {i}"
            );
        }
        server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_route_then_what_hyper_must_answer_in_the_same_write() {
    let follow_ups: [(&str, &str, &[u16], &[u8]); 4] = [
        (
            "a POST with a body",
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello",
            &[200, 200],
            b"5",
        ),
        (
            "a chunked request",
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            &[200, 200],
            b"5",
        ),
        (
            "an HTTP/1.0 request",
            "GET /plaintext HTTP/1.0\r\n\r\n",
            &[200, 200],
            b"Hello, World!",
        ),
        (
            "Connection: close",
            "GET /plaintext HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            &[200, 200],
            b"Hello, World!",
        ),
    ];
    for mode in MODES {
        let server = start(mode, |_| {}).await;
        for (name, follow_up, statuses, body) in follow_ups {
            let mut stream = connect(&server).await;
            let sent = format!("{GET_JSON}{follow_up}");
            stream.write_all(sent.as_bytes()).await.expect("write");
            let answers = read_responses(&mut stream, statuses.len()).await;
            let got: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
            assert_eq!(got, statuses, "{mode:?}: {name}");
            assert_eq!(answers[0].1, JSON_BODY, "{mode:?}: {name}");
            assert_eq!(answers[1].1, body, "{mode:?}: {name}");
            if name != "a POST with a body" && name != "a chunked request" {
                assert_eq!(
                    statuses_until_close(&mut stream).await,
                    [] as [u16; 0],
                    "{mode:?}: {name}: closed after its answer"
                );
            }
        }
        server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_computed_route_is_a_500_between_pipelined_answers() {
    // The fast lane, performance mode's hyper path, and standard mode.
    let paths = [
        (ServerMode::Performance, true),
        (ServerMode::Performance, false),
        (ServerMode::Standard, false),
    ];
    for (mode, fast_lane) in paths {
        let server = start(mode, |c| c.fast_lane = fast_lane).await;
        let mut stream = connect(&server).await;
        let pipeline = [
            GET_JSON,
            "GET /computed?panic HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: req-7\r\n\r\n",
            "GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n",
        ]
        .concat();
        stream.write_all(pipeline.as_bytes()).await.expect("write");
        let answers = read_responses(&mut stream, 3).await;
        let label = format!("{mode:?}, fast lane {fast_lane}");
        let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
        assert_eq!(statuses, [200, 500, 200], "{label}");
        let error: serde_json::Value =
            serde_json::from_slice(&answers[1].1).expect("a JSON error body");
        assert_eq!(error["error"], "internal_error", "{label}: {error}");
        assert_eq!(error["request_id"], "req-7", "{label}: {error}");
        assert!(!error.to_string().contains("secret"), "{label}: {error}");
        assert_eq!(answers[2].1, b"Hello, World!", "{label}");

        // The connection serves on, and the route answers again.
        stream
            .write_all(b"GET /computed HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .expect("write");
        assert_eq!(read_statuses(&mut stream, 1).await, [200], "{label}");
        server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_host_is_checked_even_after_a_valid_one() {
    // The fast lane remembers the last valid `Host` of a connection; a different one
    // on a later request must still be refused.
    for mode in MODES {
        let server = start(mode, |_| {}).await;
        let mut stream = connect(&server).await;
        let sent = format!(
            "{GET_JSON}GET /json HTTP/1.1\r\nHost: user@localhost\r\n\r\n{GET_JSON}\
             GET /json HTTP/1.1\r\nHost: localhost:65536\r\n\r\n"
        );
        stream.write_all(sent.as_bytes()).await.expect("write");
        let statuses: Vec<u16> = read_responses(&mut stream, 4)
            .await
            .iter()
            .map(|(status, _)| *status)
            .collect();
        assert_eq!(statuses, [200, 400, 200, 400], "{mode:?}");
        server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_route_then_a_websocket_upgrade_in_the_same_write() {
    use tokio_tungstenite::tungstenite::protocol::Role;
    for mode in MODES {
        let server = start(mode, |_| {}).await;
        let mut stream = connect(&server).await;
        let upgrade = "GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                       Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        stream
            .write_all(format!("{GET_JSON}{upgrade}").as_bytes())
            .await
            .expect("write");
        let first = read_head(&mut stream).await;
        assert!(first.starts_with("HTTP/1.1 200 OK"), "{mode:?}: {first}");
        let mut body = vec![0u8; JSON_BODY.len()];
        tokio::time::timeout(LIMIT, stream.read_exact(&mut body))
            .await
            .expect("body in time")
            .expect("body");
        assert_eq!(body, JSON_BODY);
        let switching = read_head(&mut stream).await;
        assert!(
            switching.starts_with("HTTP/1.1 101"),
            "{mode:?}: {switching}"
        );
        let mut socket =
            tokio_tungstenite::WebSocketStream::from_raw_socket(stream, Role::Client, None).await;
        assert_eq!(
            echo(&mut socket, "after a fast route").await,
            "after a fast route",
            "{mode:?}"
        );
        server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_close_mid_request_or_half_close_are_handled() {
    for mode in MODES {
        let server = start(mode, |_| {}).await;

        let mut gone = connect(&server).await;
        gone.write_all(b"GET /json HTTP/1.1\r\nHo")
            .await
            .expect("write");
        drop(gone);

        let mut half = connect(&server).await;
        half.write_all(
            format!("{GET_JSON}{GET_JSON}GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes(),
        )
        .await
        .expect("write");
        half.shutdown().await.expect("half-close");
        assert_eq!(
            statuses_until_close(&mut half).await,
            [200, 200, 200],
            "{mode:?}: every answer after a half-close"
        );

        let mut next = connect(&server).await;
        next.write_all(GET_JSON.as_bytes()).await.expect("write");
        assert_eq!(
            read_statuses(&mut next, 1).await,
            [200],
            "{mode:?}: still serving"
        );
        server.shutdown().await.expect("shutdown");
    }
}
