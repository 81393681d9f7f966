//! The server's connection loop (HTTP/2 sniffing, the fast lane, hyper, the router),
//! driven over a loopback socket for the fuzz target in `fuzz/` (feature `fuzzing`; not
//! part of the public API).
#![allow(
    clippy::expect_used,
    reason = "a test harness: a broken harness must stop the fuzzer loudly"
)]

use std::{io, net::SocketAddr, time::Duration};

use axum::{Router, routing::post};
use bytes::Bytes;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    runtime::Runtime,
};

use crate::{
    config::{Config, ServerMode},
    fast_route::{FastRoute, FastRoutes},
    routes::Routes,
    server::fuzzing::{self as server, Serve},
};

/// A body large enough that a few pipelined answers fill a batch.
const LARGE: &[u8] = &[b'.'; 20 * 1024];

/// The fast routes served, by path, with their bodies.
pub const ROUTES: [(&str, &[u8]); 3] = [
    ("/json", br#"{"message":"Hello, World!"}"#),
    ("/plaintext", b"Hello, World!"),
    ("/large", LARGE),
];

/// The router's route answering `POST` with the length of the body it read.
pub const ECHO: &str = "/echo";

/// The request-head limit (the smallest the server allows).
pub const HEAD_LIMIT: usize = 8192;

/// Answers the fast lane may hold before writing them, besides the one that crossed
/// the limit.
pub const BATCH_LIMIT: usize = server::BATCH_LIMIT;

/// Longest one connection may take: well under the header-read timeout, so a server
/// that misses the client's close fails here instead of being rescued by the timeout.
const LIMIT: Duration = Duration::from_secs(5);

/// What one connection came to.
#[derive(Debug)]
pub struct Served {
    /// Every byte the client received until the server closed.
    pub received: Vec<u8>,
    /// The most answer bytes the fast lane held for one write.
    pub peak_pending: usize,
}

thread_local! {
    static HARNESS: Harness = Harness::new();
}

/// Sends each chunk as its own write on a fresh connection, then closes the sending
/// side and reads until the server closes.
///
/// # Panics
///
/// If the server neither closes nor answers within five seconds, or the harness cannot
/// use loopback sockets.
pub fn serve(chunks: &[&[u8]]) -> Served {
    HARNESS.with(|harness| {
        server::peak_output::take();
        let received = harness.runtime.block_on(async {
            tokio::time::timeout(LIMIT, harness.exchange(chunks))
                .await
                .expect("the server neither closed the connection nor answered within 5 s")
        });
        Served {
            received,
            peak_pending: server::peak_output::take(),
        }
    })
}

/// A performance-mode worker with one listener, built once per thread.
struct Harness {
    runtime: Runtime,
    listener: TcpListener,
    addr: SocketAddr,
    serve: Serve,
}

impl Harness {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let (listener, serve) = runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a loopback listener");
            let config = Config {
                mode: ServerMode::Performance,
                request_head_limit: HEAD_LIMIT,
                ..Config::default()
            };
            let fast_routes: Vec<_> = ROUTES
                .iter()
                .map(|(path, body)| FastRoute::json(path, Bytes::from_static(body)))
                .collect();
            let mut router = Router::new().route(
                ECHO,
                post(|body: Bytes| async move { body.len().to_string() }),
            );
            // As `App::fast_route` does: other methods get the router's `405`.
            for route in &fast_routes {
                router = router.route(route.path(), route.method_router());
            }
            let serve = server::connections(
                &config,
                Routes::new(router),
                FastRoutes::new(fast_routes, false),
            );
            (listener, serve)
        });
        let addr = listener.local_addr().expect("the listener's address");
        Self {
            runtime,
            listener,
            addr,
            serve,
        }
    }

    async fn exchange(&self, chunks: &[&[u8]]) -> Vec<u8> {
        let (client, accepted) =
            tokio::join!(TcpStream::connect(self.addr), self.listener.accept());
        let mut client = client.expect("a loopback connection");
        let (server, _) = accepted.expect("an accepted loopback connection");
        // Both as the server's accept loop does, so each write leaves at once.
        for stream in [&client, &server] {
            stream.set_nodelay(true).expect("TCP_NODELAY");
        }
        let (received, ()) =
            tokio::join!(send_and_receive(&mut client, chunks), (self.serve)(server));
        // Closes with a reset instead of leaving a TIME_WAIT socket per input.
        client.set_zero_linger().ok();
        received
    }
}

/// Writes the chunks while reading, so a server writing large answers never waits on
/// a client that is still writing.
async fn send_and_receive(stream: &mut TcpStream, chunks: &[&[u8]]) -> Vec<u8> {
    let (mut reader, mut writer) = stream.split();
    let send = async {
        for chunk in chunks.iter().filter(|chunk| !chunk.is_empty()) {
            if writer.write_all(chunk).await.is_err() {
                // The server closed; what it sent is still read.
                return;
            }
            // Lets the server read this chunk before the next one arrives.
            tokio::task::yield_now().await;
        }
        writer.shutdown().await.ok();
    };
    let receive = async {
        let mut received = Vec::new();
        match reader.read_to_end(&mut received).await {
            // A server closing with unread bytes resets the connection, after its answers.
            Err(err) if err.kind() != io::ErrorKind::ConnectionReset => {
                panic!("reading the answers failed: {err}")
            }
            _ => received,
        }
    };
    let ((), received) = tokio::join!(send, receive);
    received
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelined_large_answers_leave_in_bounded_batches() {
        let stream = b"GET /large HTTP/1.1\r\nhost: a\r\n\r\n".repeat(40);
        let served = serve(&[&stream]);
        let answers = served
            .received
            .windows(17)
            .filter(|w| w == b"HTTP/1.1 200 OK\r\n")
            .count();
        assert_eq!(answers, 40);
        assert!(served.received.len() > 40 * LARGE.len());
        let peak = served.peak_pending;
        assert!(
            peak >= BATCH_LIMIT && peak < BATCH_LIMIT + 2 * LARGE.len(),
            "{peak}"
        );
    }

    #[test]
    fn a_stream_in_pieces_gets_the_same_answers() {
        let stream = b"GET /plaintext HTTP/1.1\r\nhost: a\r\n\r\nPOST /echo HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\n\r\nabcGET /json HTTP/1.1\r\nhost: a\r\n\r\n";
        let whole = serve(&[stream]);
        let pieces: Vec<&[u8]> = stream.chunks(7).collect();
        let split = serve(&pieces);
        for served in [&whole, &split] {
            let text = String::from_utf8_lossy(&served.received);
            assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 3, "{text}");
            assert!(text.contains("\r\n\r\n3"), "{text}");
        }
    }
}
