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
use common::{Running, app, config_in, start_app};
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

/// Reads whole responses until the peer closes; returns their status codes.
async fn statuses_until_close(stream: &mut TcpStream) -> Vec<u16> {
    let mut buffer = Vec::new();
    tokio::time::timeout(LIMIT, async {
        loop {
            let mut chunk = [0u8; 16 * 1024];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .expect("the server closes the connection");
    parse_responses(&buffer).0
}

/// Reads until `count` whole responses have arrived; returns their status codes.
async fn read_statuses(stream: &mut TcpStream, count: usize) -> Vec<u16> {
    let mut buffer = Vec::new();
    tokio::time::timeout(LIMIT, async {
        loop {
            let (statuses, _) = parse_responses(&buffer);
            if statuses.len() >= count {
                return statuses;
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(
                n > 0,
                "closed after {statuses:?}, {count} responses expected"
            );
            buffer.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("the responses arrive")
}

/// Statuses of the complete responses at the start of `bytes`, and the bytes used.
fn parse_responses(mut bytes: &[u8]) -> (Vec<u16>, usize) {
    let mut statuses = Vec::new();
    let mut used = 0;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(head)) = response.parse(bytes) else {
            return (statuses, used);
        };
        let length: usize = response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
            .unwrap_or(0);
        if bytes.len() < head + length {
            return (statuses, used);
        }
        statuses.push(response.code.expect("status"));
        bytes = &bytes[head + length..];
        used += head + length;
    }
}

async fn connect(server: &Running) -> TcpStream {
    tokio::time::timeout(LIMIT, TcpStream::connect(server.addr))
        .await
        .expect("connect in time")
        .expect("connect")
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
    for mode in MODES {
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
        let pipeline = "GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n".repeat(64);
        let writing =
            tokio::spawn(
                async move { while writer.write_all(pipeline.as_bytes()).await.is_ok() {} },
            );
        let mut next = connect(&server).await;
        next.write_all(GET_JSON.as_bytes()).await.expect("write");
        assert_eq!(
            read_statuses(&mut next, 1).await,
            [200],
            "{mode:?}: the slot of the stuck client is freed"
        );
        tokio::time::timeout(LIMIT, writing)
            .await
            .expect("the stuck client's connection is closed")
            .expect("writer");
        server.shutdown().await.expect("shutdown");
    }
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
            socket
                .send(tokio_tungstenite::tungstenite::Message::text(text))
                .await
                .expect("send");
            let echoed = tokio::time::timeout(LIMIT, socket.next())
                .await
                .expect("echo in time")
                .expect("a message")
                .expect("a frame");
            assert_eq!(echoed.into_text().expect("text").as_str(), text, "{mode:?}");
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
