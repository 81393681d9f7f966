//! Benchmark baseline: may_minihttp, the HTTP/1 server on `may` coroutines that ranks near
//! the top of TechEmpower's plaintext and JSON tests, with its TechEmpower routes.
//! `GET /` and `GET /plaintext` answer `Hello, World!`; `GET /json` answers
//! `{"message":"Hello, World!"}`, serialised per request as that test requires.
//!
//! One `may` worker thread, unpinned, so the caller's CPU affinity decides where it runs.
//! may_minihttp writes the `Server` and `Date` headers itself and leaves Nagle on.
//!
//! Run with: `PORT=3003 cargo run -p bench-may-minihttp --release`

use std::io;

use bytes::BufMut;
use may_minihttp::{HttpServer, HttpService, Request, Response};
use serde::Serialize;

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

#[derive(Clone)]
struct Techempower;

impl HttpService for Techempower {
    fn call(&mut self, request: Request, response: &mut Response) -> io::Result<()> {
        match request.path() {
            "/" | "/plaintext" => {
                response
                    .header("Content-Type: text/plain")
                    .body("Hello, World!");
            }
            "/json" => {
                response.header("Content-Type: application/json");
                serde_json::to_writer(
                    response.body_mut().writer(),
                    &Message {
                        message: "Hello, World!",
                    },
                )?;
            }
            _ => {
                response.status_code(404, "Not Found");
            }
        }
        Ok(())
    }
}

fn main() -> io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3003);
    may::config().set_workers(1);
    // Pinned by default, worker n to the n-th allowed core; placement is the caller's.
    may::config().set_worker_pin(false);
    let server = HttpServer(Techempower).start(("127.0.0.1", port))?;
    server
        .join()
        .map_err(|_| io::Error::other("the accept coroutine panicked"))
}
