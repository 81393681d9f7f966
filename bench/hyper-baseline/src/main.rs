//! Benchmark baseline: hyper's hello-world, tuned as a speed-minded hyper user would
//! (TCP_NODELAY, pipeline flush). Answers every request with `Hello, World!`.
//!
//! With `SAME_AS_CHOPIN=1` it also does what a Chopin fast route does beyond that: the
//! `Content-Type` and `Server` headers and a 10 s header-read timeout (tokio's timer),
//! so the two can be compared like for like.
//!
//! Run with: `PORT=3001 cargo run -p bench-hyper --release`

use std::{convert::Infallible, net::SocketAddr, time::Duration};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{
    Request, Response,
    body::Incoming,
    header::{CONTENT_TYPE, HeaderValue, SERVER},
    server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, World!",
    ))))
}

async fn hello_with_headers(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"Hello, World!")));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(SERVER, HeaderValue::from_static("chopin"));
    Ok(response)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3001);
    let same_as_chopin = std::env::var("SAME_AS_CHOPIN").is_ok_and(|v| v == "1");
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let mut http = http1::Builder::new();
            http.pipeline_flush(true);
            let io = TokioIo::new(stream);
            let _ = if same_as_chopin {
                http.timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(io, service_fn(hello_with_headers))
                    .await
            } else {
                http.serve_connection(io, service_fn(hello)).await
            };
        });
    }
}
