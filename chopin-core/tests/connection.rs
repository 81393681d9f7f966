//! The connection policy, the same in both modes: answers are written before a
//! connection closes, malformed heads get their 4xx, timeouts, the head limit, the
//! connection cap, a client that stops reading, upgrades and HTTP/2.

mod common;

use std::time::{Duration, Instant};

use axum::{
    Router,
    body::Body,
    extract::ws::{Message, WebSocket, WebSocketUpgrade},
    routing::get,
};
use bytes::Bytes;
use chopin_core::ServerMode;
use common::{
    Gate, Running, app, app_with, config_in,
    raw::{
        connect, parse_responses as parse_answers, read_responses, read_statuses,
        statuses_until_close,
    },
    start_app, within,
};
use futures_util::{SinkExt, StreamExt};
use http::{StatusCode, header};
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
    start_app(app(config).await.router(more_routes())).await
}

/// Routes beside the common ones: an upgrade, a large answer, a streamed one and
/// answers without a body.
fn more_routes() -> Router {
    Router::new()
        .route("/ws", get(echo_upgrade))
        .route("/big", get(|| async { "x".repeat(256 * 1024) }))
        .route("/stream", get(streamed))
        .route("/no-content", get(|| async { StatusCode::NO_CONTENT }))
        // Sets a security header and a request id of its own: its header wins, the
        // stack's id wins.
        .route(
            "/own-headers",
            get(|| async {
                (
                    [
                        (header::X_FRAME_OPTIONS, "SAMEORIGIN"),
                        (header::HeaderName::from_static("x-request-id"), "mine"),
                    ],
                    "own",
                )
            }),
        )
        .route(
            "/not-modified",
            get(|| async { (StatusCode::NOT_MODIFIED, [(header::ETAG, "\"v1\"")]) }),
        )
}

/// Three chunks, each sent after the task yields: a body of unknown length.
async fn streamed() -> Body {
    Body::from_stream(futures_util::stream::unfold(0, |n| async move {
        tokio::task::yield_now().await;
        (n < 3).then(|| (Ok::<_, std::io::Error>(Bytes::from(STREAMED[n])), n + 1))
    }))
}

const STREAMED: [&str; 3] = ["one,", "two,", "three"];

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
async fn answers_before_a_malformed_request_survive_bytes_sent_after_it() {
    // A client with a small receive window that reads slowly: when the server closes
    // after the 400, large answers are still queued in its socket, and bytes it never
    // read (more than hyper reads ahead) would turn that close into a reset that throws
    // them away.
    let pipeline = format!(
        "{}GE\\ / HTTP/1.1\r\n\r\n",
        "GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n".repeat(8)
    );
    for mode in MODES {
        let server = start(mode, |_| {}).await;
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .set_recv_buffer_size(4096)
            .expect("small receive buffer");
        let mut stream = tokio::time::timeout(LIMIT, socket.connect(server.addr))
            .await
            .expect("connect in time")
            .expect("connect");
        stream.write_all(pipeline.as_bytes()).await.expect("write");
        // The first answer is on its way: the server is past reading the pipeline.
        let mut received = vec![0u8; 1024];
        tokio::time::timeout(LIMIT, stream.read_exact(&mut received))
            .await
            .expect("answers in time")
            .expect("read");
        stream.write_all(&[b'X'; 64 * 1024]).await.expect("write");
        let mut pace = tokio::time::interval(Duration::from_millis(1));
        let mut chunk = vec![0u8; 16 * 1024];
        let ended = tokio::time::timeout(LIMIT, async {
            loop {
                pace.tick().await;
                match stream.read(&mut chunk).await {
                    Ok(0) => return Ok(()),
                    Ok(n) => received.extend_from_slice(&chunk[..n]),
                    Err(err) => return Err(err),
                }
            }
        })
        .await
        .expect("the server closes");
        let (statuses, _) = parse_answers(&received);
        assert_eq!(
            (statuses, ended.map_err(|e| e.kind())),
            ([[200; 8].as_slice(), &[400]].concat(), Ok(())),
            "{mode:?}: every answer, then the 400, then EOF"
        );
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
async fn a_head_sent_a_byte_at_a_time_has_one_budget_across_a_handoff() {
    const SETTING: Duration = Duration::from_secs(2);
    // A head that the connection's first stage (telling HTTP/1 from HTTP/2's preface,
    // "PRI * HTTP/2.0") reads for eleven bytes before another stage takes it over.
    const HEAD: &[u8] = b"PRI * HTTP/1.1\r\nHost: localhost\r\nX-Slow: yes\r\nX-More: yes\r\n";
    const PACE: Duration = Duration::from_millis(150);
    // The timer's granularity: tokio's in standard mode, a second in performance mode.
    let paths = [
        (ServerMode::Standard, true, Duration::ZERO),
        (ServerMode::Performance, true, Duration::from_secs(1)),
        (ServerMode::Performance, false, Duration::from_secs(1)),
    ];
    for (mode, fast_lane, granularity) in paths {
        let label = format!("{mode:?}, fast lane {fast_lane}");
        let server = start(mode, |c| {
            c.header_read_timeout = Some(SETTING);
            c.fast_lane = fast_lane;
        })
        .await;
        let stream = connect(&server).await;
        let started = std::time::Instant::now();
        let (mut reader, mut writer) = stream.into_split();
        let sending = tokio::spawn(async move {
            let mut pace = tokio::time::interval(PACE);
            for byte in HEAD {
                pace.tick().await;
                if writer.write_all(&[*byte]).await.is_err() {
                    break;
                }
            }
            writer
        });
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(LIMIT, reader.read_to_end(&mut rest))
            .await
            .expect("the server closes the connection");
        let closed = started.elapsed();
        println!("{label}: closed after {closed:?}");
        drop(sending.await.expect("sender"));
        assert!(
            closed >= SETTING - Duration::from_millis(50),
            "{label}: closed after {closed:?}, before the {SETTING:?} budget"
        );
        let bound = SETTING + granularity + Duration::from_millis(400);
        assert!(
            closed <= bound,
            "{label}: closed after {closed:?}, past the budget plus the timer's granularity ({bound:?})"
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
            // One listener: the stuck client, which connects first, is accepted first
            // and takes the one slot (with two, the next client could take it first).
            c.workers = 1;
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

type WebSocketClient = tokio_tungstenite::WebSocketStream<TcpStream>;

/// A WebSocket to the test server's `/ws` echo.
async fn open_websocket(server: &Running) -> WebSocketClient {
    let stream = connect(server).await;
    let url = format!("ws://{}/ws", server.addr);
    let (socket, response) =
        tokio::time::timeout(LIMIT, tokio_tungstenite::client_async(url, stream))
            .await
            .expect("handshake in time")
            .expect("handshake");
    assert_eq!(response.status(), 101);
    socket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_count_against_the_connection_cap() {
    for mode in MODES {
        let server = start(mode, |c| c.max_connections = 4).await;
        let mut sockets = Vec::new();
        for index in 0..4 {
            let mut socket = open_websocket(&server).await;
            assert_eq!(echo(&mut socket, "held").await, "held", "{mode:?} {index}");
            sockets.push(socket);
        }

        let mut waiting = connect(&server).await;
        waiting.write_all(GET_JSON.as_bytes()).await.expect("write");
        let mut byte = [0u8; 1];
        let early = tokio::time::timeout(Duration::from_millis(300), waiting.read(&mut byte)).await;
        assert!(
            early.is_err(),
            "{mode:?}: served beyond a cap held by WebSockets"
        );

        // The held sockets still work, and closing one frees its slot.
        assert_eq!(echo(&mut sockets[0], "still").await, "still", "{mode:?}");
        let mut closed = sockets.pop().expect("a socket");
        closed.close(None).await.expect("close");
        while let Some(Ok(_)) = tokio::time::timeout(LIMIT, closed.next())
            .await
            .expect("the close completes")
        {}
        assert_eq!(
            read_statuses(&mut waiting, 1).await,
            [200],
            "{mode:?}: served once a WebSocket closed"
        );
        for mut socket in sockets {
            socket.close(None).await.expect("close");
        }
        server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_websocket_is_drained_and_closed_at_the_deadline() {
    const DRAIN: Duration = Duration::from_secs(2);
    for mode in MODES {
        let mut server = start(mode, |c| c.shutdown_timeout = DRAIN).await;
        let mut socket = open_websocket(&server).await;
        assert_eq!(echo(&mut socket, "before").await, "before", "{mode:?}");

        let started = std::time::Instant::now();
        server.begin_shutdown().await;
        // Part of the drain: it still works, and the server waits for it.
        assert_eq!(echo(&mut socket, "during").await, "during", "{mode:?}");
        assert!(
            !server.is_finished(),
            "{mode:?}: the server stopped while a WebSocket was open"
        );
        let ended = tokio::spawn(async move {
            loop {
                match socket.next().await {
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return std::time::Instant::now(),
                }
            }
        });
        server.shutdown().await.expect("a clean exit");
        let stopped = started.elapsed();
        let ended = tokio::time::timeout(LIMIT, ended)
            .await
            .expect("the WebSocket is closed")
            .expect("reader");
        assert!(
            stopped >= DRAIN - Duration::from_millis(100),
            "{mode:?}: stopped after {stopped:?}, before the drain deadline"
        );
        assert!(
            stopped <= DRAIN + Duration::from_millis(1500),
            "{mode:?}: stopped after {stopped:?}, well past the {DRAIN:?} deadline"
        );
        let closed_at = ended.duration_since(started);
        assert!(
            closed_at <= DRAIN + Duration::from_millis(1500),
            "{mode:?}: the WebSocket was closed after {closed_at:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_pipelining_through_the_drain_gets_whole_answers_then_eof() {
    const DRAIN: Duration = Duration::from_secs(5);
    for mode in MODES {
        let mut server = start(mode, |c| c.shutdown_timeout = DRAIN).await;
        let (mut reader, mut writer) = connect(&server).await.into_split();
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        // Pipelines 256 requests a write until told to stop or the server refuses more.
        let writing = tokio::spawn(async move {
            let batch = GET_JSON.repeat(256);
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    written = writer.write_all(batch.as_bytes()) => if written.is_err() { break },
                }
            }
            writer
        });
        // Reads without pause until the server closes; says when 1,000 answers are in.
        let (counted, mut answers) = tokio::sync::watch::channel(0);
        let reading = tokio::spawn(async move {
            let mut received = Vec::new();
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                match reader.read(&mut chunk).await {
                    Ok(0) => return Ok((received, std::time::Instant::now())),
                    Ok(n) => received.extend_from_slice(&chunk[..n]),
                    Err(err) => return Err(err),
                }
                // Counted until the drain starts; then only read, as fast as it can.
                if *counted.borrow() < 1_000 {
                    counted.send_replace(parse_answers(&received).0.len());
                }
            }
        });
        within("1,000 answers", answers.wait_for(|n| *n >= 1_000))
            .await
            .expect("reader");
        let started = std::time::Instant::now();
        server.begin_shutdown().await;
        let read = within(&format!("{mode:?}: the server to close"), reading)
            .await
            .expect("reader task");
        stop.send_replace(true);
        drop(writing.await.expect("writer"));
        let (received, closed) =
            read.unwrap_or_else(|err| panic!("{mode:?}: the connection was reset: {err}"));

        let (statuses, used) = parse_answers(&received);
        assert!(
            statuses.iter().all(|&status| status == 200),
            "{mode:?}: {statuses:?}"
        );
        assert_eq!(
            used,
            received.len(),
            "{mode:?}: a partial answer after {} whole ones",
            statuses.len()
        );
        let closed_after = closed.duration_since(started);
        assert!(
            closed_after < DRAIN,
            "{mode:?}: closed after {closed_after:?}, not before the drain deadline"
        );
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

/// HTTP/2 frame types and flags (RFC 9113 section 6).
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const ACK: u8 = 0x1;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// `GET /slow` for `localhost` in HPACK: `:method GET` and `:scheme http` from the
/// static table, `:path` and `:authority` as literals with indexed names.
const GET_SLOW: &[u8] = b"\x82\x86\x04\x05/slow\x01\x09localhost";

struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

/// Just enough of an HTTP/2 client to keep a connection busy with pings, without
/// requests, and to see how the server ends it.
struct H2Client {
    stream: TcpStream,
    received: Vec<u8>,
    pings: tokio::time::Interval,
    /// Off: the client ignores the ping a graceful shutdown waits for.
    ack_pings: bool,
}

impl H2Client {
    async fn connect(server: &Running, ack_pings: bool) -> Self {
        let mut client = Self {
            stream: connect(server).await,
            received: Vec::new(),
            pings: tokio::time::interval(Duration::from_millis(500)),
            ack_pings,
        };
        client
            .stream
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .expect("preface");
        client.send(SETTINGS, 0, 0, &[]).await.expect("settings");
        client
    }

    async fn send(
        &mut self,
        kind: u8,
        flags: u8,
        stream: u32,
        payload: &[u8],
    ) -> std::io::Result<()> {
        let length = u32::try_from(payload.len())
            .expect("a small frame")
            .to_be_bytes();
        let mut frame = vec![length[1], length[2], length[3], kind, flags];
        frame.extend_from_slice(&stream.to_be_bytes());
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame).await
    }

    /// The server's next frame, or `None` once it has closed the connection. Pings the
    /// server every 500 ms meanwhile, and acknowledges its SETTINGS and PINGs.
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.parse() {
                // A PING's acknowledgement echoes its payload; a SETTINGS' is empty.
                let ack = match frame.kind {
                    SETTINGS if frame.flags & ACK == 0 => Some(&[][..]),
                    PING if frame.flags & ACK == 0 && self.ack_pings => Some(&frame.payload[..]),
                    _ => None,
                };
                if let Some(payload) = ack {
                    // A write fails once the server has closed; the reads tell.
                    let _ = self.send(frame.kind, ACK, 0, payload).await;
                }
                return Some(frame);
            }
            let mut chunk = [0u8; 4096];
            tokio::select! {
                read = self.stream.read(&mut chunk) => match read {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => self.received.extend_from_slice(&chunk[..n]),
                },
                _ = self.pings.tick() => {
                    let _ = self.send(PING, 0, 0, &[0; 8]).await;
                }
            }
        }
    }

    fn parse(&mut self) -> Option<Frame> {
        let head = self.received.get(..9)?;
        let length = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        if self.received.len() < 9 + length {
            return None;
        }
        let frame = Frame {
            kind: head[3],
            flags: head[4],
            stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
            payload: self.received[9..9 + length].to_vec(),
        };
        self.received.drain(..9 + length);
        Some(frame)
    }

    /// Reads until the server closes; returns how long after `since` its first GOAWAY
    /// and the close came.
    async fn until_close(&mut self, since: Instant) -> (Option<Duration>, Duration) {
        let mut goaway = None;
        while let Some(frame) = self.next().await {
            if frame.kind == GOAWAY {
                goaway.get_or_insert_with(|| since.elapsed());
            }
        }
        (goaway, since.elapsed())
    }
}

/// The idle timeout of the HTTP/2 tests.
const H2_IDLE: Duration = Duration::from_secs(2);
/// How much later than its timer a close may come on a loaded machine.
const CLOSE_MARGIN: Duration = Duration::from_secs(1);
/// How much earlier a close may seem: the client sees an answer end a little after the
/// server starts the idle clock.
const EARLY: Duration = Duration::from_millis(250);

/// How late each mode's timer may fire.
fn granularity(mode: ServerMode) -> Duration {
    match mode {
        ServerMode::Standard => Duration::ZERO,
        ServerMode::Performance => Duration::from_secs(1),
    }
}

fn assert_closed_after(
    mode: ServerMode,
    what: &str,
    idle: Duration,
    closed: Duration,
    timers: u32,
) {
    let latest = idle + granularity(mode) * timers + CLOSE_MARGIN;
    assert!(
        closed + EARLY >= idle && closed <= latest,
        "{mode:?}: {what}: closed after {closed:?}, expected {idle:?} to {latest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http2_connections_are_closed_after_the_idle_timeout() {
    for mode in MODES {
        let server = start(mode, |c| c.header_read_timeout = Some(H2_IDLE)).await;
        // Both connect after `started`, so the server's idle clocks start later.
        let started = Instant::now();
        let (mut polite, mut deaf) = tokio::join!(
            H2Client::connect(&server, true),
            H2Client::connect(&server, false)
        );
        let ((polite_goaway, polite_closed), (deaf_goaway, deaf_closed)) =
            within("the server to close idle HTTP/2 connections", async {
                tokio::join!(polite.until_close(started), deaf.until_close(started))
            })
            .await;
        eprintln!(
            "{mode:?}: GOAWAY {polite_goaway:?}, closed {polite_closed:?}; \
             not acknowledging the shutdown ping: closed {deaf_closed:?}"
        );
        assert!(
            polite_goaway.is_some(),
            "{mode:?}: a GOAWAY before the close"
        );
        assert!(deaf_goaway.is_some(), "{mode:?}: a GOAWAY before the close");
        assert_closed_after(mode, "idle", H2_IDLE, polite_closed, 1);
        // A graceful shutdown waits for the client to acknowledge its ping; one that never
        // does is dropped after a second idle timeout.
        assert_closed_after(mode, "deaf", H2_IDLE * 2, deaf_closed, 2);
        server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_request_in_flight_outlives_the_idle_timeout() {
    for mode in MODES {
        let mut config = config_in(mode);
        config.header_read_timeout = Some(H2_IDLE);
        let gate = Gate::default();
        let server = start_app(app_with(config, gate.clone()).await).await;
        let mut client = H2Client::connect(&server, true).await;
        client
            .send(HEADERS, END_STREAM | END_HEADERS, 1, GET_SLOW)
            .await
            .expect("request");
        gate.started().await;
        // Held past the latest an idle connection would be closed, pinging throughout.
        let hold = H2_IDLE + granularity(mode) + CLOSE_MARGIN;
        let held = tokio::time::timeout(hold, async {
            while let Some(frame) = client.next().await {
                assert_ne!(
                    frame.kind, GOAWAY,
                    "{mode:?}: GOAWAY with a request in flight"
                );
            }
        })
        .await;
        assert!(held.is_err(), "{mode:?}: closed with a request in flight");
        gate.open();
        let mut body = Vec::new();
        within("the held answer", async {
            loop {
                let frame = client.next().await.expect("the answer before a close");
                if frame.stream != 1 || !matches!(frame.kind, HEADERS | DATA) {
                    continue;
                }
                if frame.kind == DATA {
                    body.extend_from_slice(&frame.payload);
                }
                if frame.flags & END_STREAM != 0 {
                    break;
                }
            }
        })
        .await;
        assert_eq!(body, b"done", "{mode:?}");
        let answered = Instant::now();
        let (goaway, closed) = within(
            "the server to close the connection once idle",
            client.until_close(answered),
        )
        .await;
        eprintln!("{mode:?}: after the answer, GOAWAY {goaway:?}, closed {closed:?}");
        assert!(goaway.is_some(), "{mode:?}: a GOAWAY before the close");
        assert_closed_after(mode, "idle after the answer", H2_IDLE, closed, 1);
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
    // A fast route, a router `GET`, a router `POST` with its body (a body split from
    // its head is hyper's to read) and a fast route again.
    let pipeline = format!(
        "{GET_JSON}GET / HTTP/1.1\r\nHost: localhost\r\n\r\n\
         POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello{GET_JSON}"
    );
    let bytes = pipeline.as_bytes();
    for offset in 1..bytes.len() {
        let mut stream = connect(&server).await;
        stream.set_nodelay(true).expect("nodelay");
        stream.write_all(&bytes[..offset]).await.expect("write");
        if offset == GET_JSON.len() {
            // A whole request: its answer arrives before the rest is sent.
            assert_eq!(read_responses(&mut stream, 1).await[0].1, JSON_BODY);
            stream.write_all(&bytes[offset..]).await.expect("write");
            let rest = read_responses(&mut stream, 3).await;
            assert_eq!((rest[0].0, rest[2].1.as_slice()), (200, JSON_BODY));
            continue;
        }
        tokio::task::yield_now().await;
        stream.write_all(&bytes[offset..]).await.expect("write");
        let answers = read_responses(&mut stream, 4).await;
        let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
        assert_eq!(statuses, [200, 200, 200, 200], "split at {offset}");
        assert_eq!(answers[0].1, JSON_BODY, "split at {offset}");
        assert!(
            String::from_utf8_lossy(&answers[1].1).contains(r#""framework":"chopin""#),
            "split at {offset}: the welcome document"
        );
        assert_eq!(answers[2].1, b"5", "split at {offset}");
        assert_eq!(answers[3].1, JSON_BODY, "split at {offset}");
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

/// Every way an HTTP/1 connection is served: the fast lane (which takes router
/// requests to the router itself), performance mode through hyper only, standard mode.
const PATHS: [(ServerMode, bool); 3] = [
    (ServerMode::Performance, true),
    (ServerMode::Performance, false),
    (ServerMode::Standard, false),
];

const WS_UPGRADE: &str = "GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n\
    Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// What a body must be, or hold.
#[derive(Clone, Copy, Debug)]
enum Expected {
    Is(&'static [u8]),
    Has(&'static str),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_pipelined_mixed_requests_are_answered_in_order() {
    use Expected::{Has, Is};
    let mix: [(&str, u16, Expected); 9] = [
        (GET_JSON, 200, Is(JSON_BODY)),
        (
            "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
            200,
            Has(r#""framework":"chopin""#),
        ),
        (
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello",
            200,
            Is(b"5"),
        ),
        (
            "GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n",
            200,
            Is(b"one,two,three"),
        ),
        (
            "GET /plaintext?n=1 HTTP/1.1\r\nHost: localhost\r\n\r\n",
            200,
            Is(b"Hello, World!"),
        ),
        (
            "GET /no-content HTTP/1.1\r\nHost: localhost\r\n\r\n",
            204,
            Is(b""),
        ),
        (
            "GET /nope HTTP/1.1\r\nHost: localhost\r\nx-request-id: mixed-id\r\n\r\n",
            404,
            Has(r#""request_id":"mixed-id""#),
        ),
        (
            "GET /not-modified HTTP/1.1\r\nHost: localhost\r\n\r\n",
            304,
            Is(b""),
        ),
        (
            "GET /panic HTTP/1.1\r\nHost: localhost\r\n\r\n",
            500,
            Has("internal_error"),
        ),
    ];
    // 62 of the mix, then a chunked request (hyper takes the connection over from the
    // fast lane there) and an upgrade, which ends the pipeline.
    let mut requests: Vec<(&str, u16, Expected)> = (0..62).map(|i| mix[i % mix.len()]).collect();
    requests.push((
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\nhello\r\n0\r\n\r\n",
        200,
        Is(b"5"),
    ));
    requests.push((WS_UPGRADE, 101, Is(b"")));
    for (mode, fast_lane) in PATHS {
        let label = format!("{mode:?}, fast lane {fast_lane}");
        let server = start(mode, |c| c.fast_lane = fast_lane).await;
        let mut stream = connect(&server).await;
        let pipeline: String = requests.iter().map(|(request, ..)| *request).collect();
        stream.write_all(pipeline.as_bytes()).await.expect("write");
        let answers = read_responses(&mut stream, requests.len()).await;
        for (i, ((request, status, body), (got, got_body))) in
            requests.iter().zip(&answers).enumerate()
        {
            let text = String::from_utf8_lossy(got_body);
            let matches = match body {
                Is(bytes) => got_body == bytes,
                Has(part) => text.contains(part),
            };
            assert!(
                *got == *status && matches,
                "{label}: answer {i} to {request:?}: {got} {text}"
            );
        }
        // The upgraded connection would hold the drain until its deadline.
        drop(stream);
        server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_before_a_slow_router_answer_leave_while_it_waits() {
    for (mode, fast_lane) in PATHS {
        let label = format!("{mode:?}, fast lane {fast_lane}");
        let gate = Gate::default();
        let mut config = config_in(mode);
        config.fast_lane = fast_lane;
        let server = start_app(app_with(config, gate.clone()).await.router(more_routes())).await;
        let mut stream = connect(&server).await;
        let slow = "GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n";
        let stream_get = "GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n";
        let sent = format!("{GET_JSON}{slow}{stream_get}{GET_JSON}");
        stream.write_all(sent.as_bytes()).await.expect("write");
        // Nothing after `/slow` can be answered before it, and it waits for the gate.
        let first = read_responses(&mut stream, 1).await;
        assert_eq!(first[0].1, JSON_BODY, "{label}");
        gate.open();
        let rest = read_responses(&mut stream, 3).await;
        let bodies: Vec<&[u8]> = rest.iter().map(|(_, body)| body.as_slice()).collect();
        assert_eq!(
            bodies,
            [&b"done"[..], b"one,two,three", JSON_BODY],
            "{label}"
        );
        server.shutdown().await.expect("shutdown");
    }
}

/// The head of the one answer to `request` on a fresh connection: its status line,
/// then its header lines sorted (the stack's header map reorders them as it removes
/// and inserts, so the order carries no meaning), `date` masked.
async fn head_of(server: &Running, request: &str) -> String {
    let mut stream = connect(server).await;
    stream.write_all(request.as_bytes()).await.expect("write");
    let head = read_head(&mut stream).await;
    let mut lines = head.lines().filter(|line| !line.is_empty());
    let status = lines.next().unwrap_or_default();
    let mut fields: Vec<&str> = lines
        .map(|line| match line.split_once(": ") {
            Some(("date", _)) => "date: <now>",
            _ => line,
        })
        .collect();
    fields.sort_unstable();
    format!("{status}\n{}", fields.join("\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_answers_are_framed_by_the_fast_lane_as_hyper_frames_them() {
    // The fast lane's router answers against hyper's in the same mode: the same status
    // line and header lines (the date masked), framing included.
    let requests = [
        "GET / HTTP/1.1",
        "HEAD / HTTP/1.1",
        "GET /stream HTTP/1.1",
        "HEAD /stream HTTP/1.1",
        "GET /no-content HTTP/1.1",
        "GET /not-modified HTTP/1.1",
        "GET /panic HTTP/1.1",
        "GET /nope HTTP/1.1",
        "DELETE /json HTTP/1.1",
        "GET /big HTTP/1.1",
        "OPTIONS /echo HTTP/1.1",
        "GET /own-headers HTTP/1.1",
    ];
    let lane = start(ServerMode::Performance, |_| {}).await;
    let hyper = start(ServerMode::Performance, |c| c.fast_lane = false).await;
    for request in requests {
        let request = format!("{request}\r\nHost: localhost\r\nx-request-id: same-id\r\n\r\n");
        let (a, b) = (
            head_of(&lane, &request).await,
            head_of(&hyper, &request).await,
        );
        assert_eq!(a, b, "{request:?}");
    }
    lane.shutdown().await.expect("shutdown");
    hyper.shutdown().await.expect("shutdown");
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
        // An open WebSocket would hold the drain until its deadline.
        socket.close(None).await.expect("close");
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
