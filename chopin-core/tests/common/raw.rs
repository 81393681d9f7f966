//! Raw HTTP/1.1 over TCP, for tests that need to see bytes, pipelining and closes.

use std::time::Duration;

use tokio::{io::AsyncReadExt, net::TcpStream};

use super::Running;

/// Every wait here fails the test after this long instead of hanging it.
const LIMIT: Duration = Duration::from_secs(15);

/// Reads whole responses until the peer closes; returns their status codes.
pub async fn statuses_until_close(stream: &mut TcpStream) -> Vec<u16> {
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
pub async fn read_statuses(stream: &mut TcpStream, count: usize) -> Vec<u16> {
    read_responses(stream, count)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect()
}

/// Statuses of the complete responses at the start of `bytes`, and the bytes used.
pub fn parse_responses(bytes: &[u8]) -> (Vec<u16>, usize) {
    let (responses, used) = responses(bytes);
    (
        responses.into_iter().map(|(status, _)| status).collect(),
        used,
    )
}

/// Status and body of the complete responses at the start of `bytes` (a `HEAD` answer
/// must not be among them: its `Content-Length` has no body), chunked bodies decoded,
/// and the bytes used.
pub fn responses(mut bytes: &[u8]) -> (Vec<(u16, Vec<u8>)>, usize) {
    let mut statuses = Vec::new();
    let mut used = 0;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(head)) = response.parse(bytes) else {
            return (statuses, used);
        };
        let chunked = response.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("transfer-encoding")
                && h.value.eq_ignore_ascii_case(b"chunked")
        });
        let (body, length) = if chunked {
            match dechunk(&bytes[head..]) {
                Some(decoded) => decoded,
                None => return (statuses, used),
            }
        } else {
            let length: usize = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
                .unwrap_or(0);
            if bytes.len() < head + length {
                return (statuses, used);
            }
            (bytes[head..head + length].to_vec(), length)
        };
        statuses.push((response.code.expect("status"), body));
        bytes = &bytes[head + length..];
        used += head + length;
    }
}

/// A whole chunked body at the start of `bytes`, decoded, and its length as sent;
/// `None` until it is all there.
pub fn dechunk(mut bytes: &[u8]) -> Option<(Vec<u8>, usize)> {
    let (mut body, mut used) = (Vec::new(), 0);
    loop {
        let line = bytes.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&bytes[..line]).ok()?, 16)
            .expect("a chunk size");
        if size == 0 {
            // No trailers here: the last chunk and the blank line.
            bytes
                .get(line + 2..line + 4)
                .filter(|end| *end == b"\r\n")?;
            return Some((body, used + line + 4));
        }
        let chunk = bytes.get(line + 2..line + 2 + size + 2)?;
        assert_eq!(&chunk[size..], b"\r\n", "a chunk ends with CRLF");
        body.extend_from_slice(&chunk[..size]);
        bytes = &bytes[line + 2 + size + 2..];
        used += line + 2 + size + 2;
    }
}

pub async fn connect(server: &Running) -> TcpStream {
    tokio::time::timeout(LIMIT, TcpStream::connect(server.addr))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// Reads until `count` whole responses have arrived; returns their statuses and bodies.
pub async fn read_responses(stream: &mut TcpStream, count: usize) -> Vec<(u16, Vec<u8>)> {
    let mut buffer = Vec::new();
    tokio::time::timeout(LIMIT, async {
        loop {
            let (answers, _) = responses(&buffer);
            if answers.len() >= count {
                return answers;
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "closed after {} of {count} responses", answers.len());
            buffer.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("the responses arrive")
}
