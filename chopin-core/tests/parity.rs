//! Standard and performance mode answer every request the same: one table of raw
//! HTTP/1.x exchanges runs against both, comparing status, headers (all but `Date`, and
//! `x-request-id` only by presence when the server generated it) and body.

mod common;

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use chopin_core::ServerMode;
use common::{Gate, Running, app, app_with, client, config_in, start_app, within};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// A response with a body framed by `Content-Length`.
    Body,
    /// A response without a body: to `HEAD`, or an interim `100 Continue`.
    NoBody,
}

/// Bytes to write, then the responses to read before the next step.
struct Step {
    send: Vec<u8>,
    expect: Vec<Expect>,
}

struct Case {
    name: &'static str,
    steps: Vec<Step>,
}

#[derive(Debug, PartialEq)]
struct Answer {
    status_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")
}

fn req(method: &str, path: &str, extra: &str, body: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

const SIGNUP: &str =
    r#"{"email":"pat@example.com","username":"pat","password":"correct horse battery"}"#;

fn json_post(path: &str, body: &str) -> String {
    req("POST", path, "Content-Type: application/json\r\n", body)
}

/// `body` with the string value of each `"key":"…"` replaced by `<key>`: tokens and
/// timestamps differ between any two runs.
fn mask_json_values(body: &str, keys: &[&str]) -> String {
    let mut body = body.to_owned();
    for key in keys {
        let marker = format!(r#""{key}":""#);
        if let Some(start) = body.find(&marker).map(|i| i + marker.len())
            && let Some(len) = body[start..].find('"')
        {
            body.replace_range(start..start + len, &format!("<{key}>"));
        }
    }
    body
}

fn one(name: &'static str, request: String, expect: Expect) -> Case {
    Case {
        name,
        steps: vec![Step {
            send: request.into_bytes(),
            expect: vec![expect],
        }],
    }
}

fn cases() -> Vec<Case> {
    use Expect::{Body, NoBody};
    let large = "a".repeat(1024 * 1024);
    let pipeline_requests = [
        (get("/json"), Body),
        (get("/"), Body),
        (get("/plaintext"), Body),
        (req("HEAD", "/json", "", ""), NoBody),
        (get("/nope"), Body),
        (req("POST", "/echo", "", "hello"), Body),
        (get("/json?x=1"), Body),
        (req("POST", "/json", "", "x"), Body),
        (get("/plaintext"), Body),
        (req("GET", "/", "x-request-id: pipelined-id\r\n", ""), Body),
        (get("/json/"), Body),
        (req("OPTIONS", "/plaintext", "", ""), Body),
        (get("/json"), Body),
        (
            req(
                "POST",
                "/items",
                "Content-Type: application/json\r\n",
                "{\"a\":1}",
            ),
            Body,
        ),
        (get("/plaintext"), Body),
        (get("/json"), Body),
    ];
    assert_eq!(pipeline_requests.len(), 16);
    vec![
        one("GET fast json", get("/json"), Body),
        one("GET fast text", get("/plaintext"), Body),
        one("HEAD fast", req("HEAD", "/json", "", ""), NoBody),
        one("POST fast", req("POST", "/json", "", "x"), Body),
        one("OPTIONS fast", req("OPTIONS", "/json", "", ""), Body),
        one("DELETE fast", req("DELETE", "/plaintext", "", ""), Body),
        one("query string", get("/json?a=1&b=2"), Body),
        one("GET computed", get("/computed?a=1"), Body),
        one(
            "GET computed with a header",
            req("GET", "/computed", "X-Probe: yes\r\n", ""),
            Body,
        ),
        one("HEAD computed", req("HEAD", "/computed?text", "", ""), NoBody),
        one("computed plain text", get("/computed?text"), Body),
        one("computed 404", get("/computed?status=404"), Body),
        one("computed 204", get("/computed?status=204"), NoBody),
        one("computed 304", get("/computed?status=304"), NoBody),
        one("computed 1xx becomes 500", get("/computed?status=102"), Body),
        one("POST computed", req("POST", "/computed", "", "x"), Body),
        one("computed panic", get("/computed?panic"), Body),
        one("HEAD computed panic", req("HEAD", "/computed?panic", "", ""), NoBody),
        Case {
            name: "computed panic between pipelined fast routes",
            steps: vec![Step {
                send: [get("/json"), get("/computed?panic"), get("/plaintext")]
                    .concat()
                    .into_bytes(),
                expect: vec![Body, Body, Body],
            }],
        },
        one(
            "request target over 65,534 bytes",
            get(&format!("/json?q={}", "a".repeat(70_000))),
            Body,
        ),
        one("trailing slash", get("/json/"), Body),
        one("other case", get("/JSON"), Body),
        one("unknown path", get("/does/not/exist"), Body),
        one("HEAD unknown path", req("HEAD", "/does/not/exist", "", ""), NoBody),
        one("no Host", "GET / HTTP/1.1\r\n\r\n".to_owned(), Body),
        one(
            "no Host, unknown path",
            "GET /does/not/exist HTTP/1.1\r\n\r\n".to_owned(),
            Body,
        ),
        one(
            "two Hosts",
            "GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n".to_owned(),
            Body,
        ),
        one(
            "Host with userinfo",
            "GET / HTTP/1.1\r\nHost: user@test\r\n\r\n".to_owned(),
            Body,
        ),
        one(
            "Host not an authority",
            "GET /nope HTTP/1.1\r\nHost: te st/x\r\n\r\n".to_owned(),
            Body,
        ),
        one(
            "no Host, fast route",
            "GET /json HTTP/1.1\r\n\r\n".to_owned(),
            Body,
        ),
        one(
            "two Hosts, fast route",
            "GET /plaintext HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n".to_owned(),
            Body,
        ),
        one(
            "two Hosts on HTTP/1.0",
            "GET / HTTP/1.0\r\nHost: a.test\r\nHost: b.test\r\n\r\n".to_owned(),
            Body,
        ),
        one(
            "Host with a port",
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n".to_owned(),
            Body,
        ),
        one(
            "HTTP/1.0 to the router without Host",
            "GET / HTTP/1.0\r\n\r\n".to_owned(),
            Body,
        ),
        one(
            "implausible client request id on a fast route",
            req("GET", "/json", "X-Request-Id: abc-\"quoted\" id\r\n", ""),
            Body,
        ),
        one(
            "implausible client request id",
            req("GET", "/nope", "X-Request-Id: abc-\"quoted\" id\r\n", ""),
            Body,
        ),
        one("welcome", get("/"), Body),
        one("POST welcome", req("POST", "/", "", "{}"), Body),
        one(
            "client request id",
            req("GET", "/json", "X-Request-Id: abc-123\r\n", ""),
            Body,
        ),
        one(
            "client request id on an error",
            req("GET", "/nope", "X-Request-Id: abc-124\r\n", ""),
            Body,
        ),
        one("large POST", req("POST", "/echo", "", &large), Body),
        one(
            "100 KiB of headers",
            req("GET", "/json", &format!("X-Big: {}\r\n", "b".repeat(100 * 1024)), ""),
            Body,
        ),

        one(
            "JSON body",
            req(
                "POST",
                "/items",
                "Content-Type: application/json\r\n",
                r#"{"name":"x"}"#,
            ),
            Body,
        ),
        one(
            "malformed JSON",
            req("POST", "/items", "Content-Type: application/json\r\n", "{oops"),
            Body,
        ),
        one("handler panic", get("/panic"), Body),
        one("API document", get("/api-docs/openapi.json"), Body),
        one("API docs page", get("/api-docs"), Body),
        one("API docs page with slash", get("/api-docs/"), Body),
        one(
            "API docs script",
            get("/api-docs/swagger-initializer.js"),
            Body,
        ),
        one("API docs unknown file", get("/api-docs/nope.js"), Body),
        one("liveness", get("/healthz"), Body),
        one("HEAD liveness", req("HEAD", "/healthz", "", ""), NoBody),
        one("readiness", get("/readyz"), Body),
        one("HEAD readiness", req("HEAD", "/readyz", "", ""), NoBody),
        one("POST readiness", req("POST", "/readyz", "", ""), Body),
        one("signup", json_post("/api/auth/signup", SIGNUP), Body),
        one("signup again", json_post("/api/auth/signup", SIGNUP), Body),
        one(
            "signup with invalid fields",
            json_post(
                "/api/auth/signup",
                r#"{"email":"x","username":"?","password":"1"}"#,
            ),
            Body,
        ),
        one(
            "signup with malformed JSON",
            json_post("/api/auth/signup", "{\"email\""),
            Body,
        ),
        one(
            "signup without a content type",
            req("POST", "/api/auth/signup", "", SIGNUP),
            Body,
        ),
        one("GET signup", get("/api/auth/signup"), Body),
        one(
            "login",
            json_post(
                "/api/auth/login",
                r#"{"email":"pat@example.com","password":"correct horse battery"}"#,
            ),
            Body,
        ),
        one(
            "login with a wrong password",
            json_post(
                "/api/auth/login",
                r#"{"email":"pat@example.com","password":"wrong horse battery"}"#,
            ),
            Body,
        ),
        one("me without a token", get("/api/auth/me"), Body),
        one(
            "me with a bad token",
            req("GET", "/api/auth/me", "Authorization: Bearer x.y.z\r\n", ""),
            Body,
        ),
        one(
            "HTTP/1.0",
            "GET /json HTTP/1.0\r\n\r\n".to_owned(),
            Body,
        ),
        Case {
            name: "HTTP/1.0 keep-alive",
            steps: vec![Step {
                send: b"GET /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".to_vec(),
                expect: vec![Body, Body],
            }],
        },
        one(
            "Connection: close",
            req("GET", "/plaintext", "Connection: close\r\n", ""),
            Body,
        ),
        Case {
            name: "Expect: 100-continue",
            steps: vec![
                Step {
                    send: b"POST /echo HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n".to_vec(),
                    expect: vec![NoBody],
                },
                Step {
                    send: b"hello".to_vec(),
                    expect: vec![Body],
                },
            ],
        },
        Case {
            name: "16 pipelined requests",
            steps: vec![Step {
                send: pipeline_requests
                    .iter()
                    .flat_map(|(r, _)| r.as_bytes().to_vec())
                    .collect(),
                expect: pipeline_requests.iter().map(|(_, e)| *e).collect(),
            }],
        },
    ]
}

/// What the auth and docs cases must answer, besides answering alike.
fn expected_status(case: &str) -> Option<&'static str> {
    Some(match case {
        "API document" | "API docs page with slash" | "API docs script" => "200",
        "API docs page" => "303",
        "API docs unknown file" => "404",
        "liveness" | "HEAD liveness" | "readiness" | "HEAD readiness" => "200",
        "POST readiness" => "405",
        "no Host"
        | "no Host, unknown path"
        | "two Hosts"
        | "Host with userinfo"
        | "Host not an authority"
        | "no Host, fast route"
        | "two Hosts, fast route"
        | "two Hosts on HTTP/1.0" => "400",
        "Host with a port" | "HTTP/1.0 to the router without Host" => "200",
        "GET computed" | "computed plain text" => "200",
        "computed 404" => "404",
        "computed 204" => "204",
        "computed 304" => "304",
        "computed 1xx becomes 500" => "500",
        "POST computed" => "405",
        "computed panic" | "HEAD computed panic" => "500",
        "computed panic between pipelined fast routes" => "200",
        "request target over 65,534 bytes" => "414",
        "HEAD unknown path" | "implausible client request id" => "404",
        "signup" => "201",
        "signup again" => "409",
        "signup with invalid fields" => "422",
        "signup with malformed JSON" => "400",
        "signup without a content type" => "415",
        "GET signup" => "405",
        "login" => "200",
        "login with a wrong password" | "me without a token" | "me with a bad token" => "401",
        _ => return None,
    })
}

/// Runs `case` on a fresh connection and returns every response, normalised.
fn exchange(addr: SocketAddr, case: &Case) -> Vec<Answer> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buffer = Vec::new();
    let mut answers = Vec::new();
    for step in &case.steps {
        stream.write_all(&step.send).expect("write");
        for expect in &step.expect {
            answers.push(read_response(&mut stream, &mut buffer, *expect, case.name));
        }
    }
    answers
}

fn read_response(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    expect: Expect,
    case: &str,
) -> Answer {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut parsed = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head_len) = parsed.parse(buffer).expect("valid response")
        {
            let status_line = format!(
                "HTTP/1.{} {} {}",
                parsed.version.unwrap_or_default(),
                parsed.code.unwrap_or_default(),
                parsed.reason.unwrap_or_default()
            );
            let mut fields: Vec<(String, String)> = parsed
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            assert!(
                !fields.iter().any(|(n, _)| n == "transfer-encoding"),
                "{case}: every answer here has a known length"
            );
            let body_len = match expect {
                Expect::NoBody => 0,
                Expect::Body => fields
                    .iter()
                    .find(|(n, _)| n == "content-length")
                    .map(|(_, v)| v.parse::<usize>().expect("content-length"))
                    .unwrap_or_else(|| panic!("{case}: no content-length")),
            };
            while buffer.len() < head_len + body_len {
                fill(stream, buffer, case);
            }
            let body = String::from_utf8_lossy(&buffer[head_len..head_len + body_len]).into_owned();
            buffer.drain(..head_len + body_len);

            let dates = fields.iter().filter(|(n, _)| n == "date").count();
            if !status_line.starts_with("HTTP/1.1 100") {
                assert_eq!(dates, 1, "{case}: exactly one Date header");
            }
            fields.retain(|(n, _)| n != "date");
            let mut body = body;
            for (name, value) in &mut fields {
                // Generated ids differ between runs; ids the client sent must match.
                if name == "x-request-id" && !value.contains("abc-") && value != "pipelined-id" {
                    body = body.replace(value.as_str(), "<generated>");
                    *value = "<generated>".to_owned();
                }
            }
            // The welcome document names the mode: the one intended difference.
            body = body.replace(r#""mode":"performance""#, r#""mode":"standard""#);
            body = mask_json_values(&body, &["access_token", "refresh_token", "created_at"]);
            if body.len() != body_len && expect == Expect::Body {
                for (name, value) in &mut fields {
                    if name == "content-length" {
                        *value = body.len().to_string();
                    }
                }
            }
            fields.sort();
            return Answer {
                status_line,
                headers: fields,
                body,
            };
        }
        fill(stream, buffer, case);
    }
}

fn fill(stream: &mut TcpStream, buffer: &mut Vec<u8>, case: &str) {
    let mut chunk = [0; 64 * 1024];
    let n = stream
        .read(&mut chunk)
        .unwrap_or_else(|e| panic!("{case}: read failed: {e}"));
    assert!(n > 0, "{case}: connection closed before the full answer");
    buffer.extend_from_slice(&chunk[..n]);
}

/// A head limit above hyper's longest request target (65,534 bytes), so a longer target
/// meets that limit first in every path.
const HEAD_LIMIT: usize = 96 * 1024;

fn parity_config(mode: ServerMode) -> chopin_core::Config {
    let mut config = config_in(mode);
    config.request_head_limit = HEAD_LIMIT;
    // The table asks `/readyz`, which would make each shutdown wait for a poller.
    config.shutdown_delay = Duration::ZERO;
    config
}

async fn both_modes() -> (Running, Running) {
    let standard = start_app(app(parity_config(ServerMode::Standard)).await).await;
    let performance = start_app(app(parity_config(ServerMode::Performance)).await).await;
    (standard, performance)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_modes_answer_every_request_the_same() {
    let (standard, performance) = both_modes().await;
    let mut no_fast_lane = parity_config(ServerMode::Performance);
    no_fast_lane.fast_lane = false;
    let hyper_only = start_app(app(no_fast_lane).await).await;
    let (a, b, c) = (standard.addr, performance.addr, hyper_only.addr);
    let mismatches = tokio::task::spawn_blocking(move || {
        let mut mismatches = Vec::new();
        for case in cases() {
            let expected = exchange(a, &case);
            assert_eq!(
                expected.len(),
                case.steps.iter().map(|s| s.expect.len()).sum::<usize>()
            );
            if let Some(code) = expected_status(case.name) {
                assert_eq!(
                    expected[0].status_line.split(' ').nth(1),
                    Some(code),
                    "{}: {expected:?}",
                    case.name
                );
            }
            for (label, addr) in [("performance", b), ("performance, FAST_LANE=off", c)] {
                let actual = exchange(addr, &case);
                if expected != actual {
                    mismatches.push(format!(
                        "{}:\n  standard: {expected:?}\n  {label}: {actual:?}",
                        case.name
                    ));
                }
            }
        }
        mismatches
    })
    .await
    .unwrap();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    standard.shutdown().await.unwrap();
    performance.shutdown().await.unwrap();
    hyper_only.shutdown().await.unwrap();
}

/// The header named `name` of `answer`.
fn header<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
    answer
        .headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_answers_the_headers_of_get_in_both_modes() {
    let (standard, performance) = both_modes().await;
    for server in [&standard, &performance] {
        let addr = server.addr;
        // Not `/`: its body names the mode, which the comparison rewrites.
        for path in ["/does/not/exist", "/api-docs/openapi.json", "/api/auth/me"] {
            // One id for both: a generated one may differ in length, and so the body.
            let id = "X-Request-Id: abc-head\r\n";
            let (get_answer, head_answer) = tokio::task::spawn_blocking(move || {
                let get = one("GET", req("GET", path, id, ""), Expect::Body);
                let head = one("HEAD", req("HEAD", path, id, ""), Expect::NoBody);
                (exchange(addr, &get), exchange(addr, &head))
            })
            .await
            .unwrap();
            assert_eq!(
                get_answer[0].status_line, head_answer[0].status_line,
                "{path}"
            );
            assert_eq!(get_answer[0].headers, head_answer[0].headers, "{path}");
            assert!(head_answer[0].body.is_empty());
        }
    }
    standard.shutdown().await.unwrap();
    performance.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_host_is_a_json_400_with_a_request_id_in_both_modes() {
    let (standard, performance) = both_modes().await;
    for server in [&standard, &performance] {
        let addr = server.addr;
        for request in [
            "GET / HTTP/1.1\r\n\r\n",
            "GET /json HTTP/1.1\r\n\r\n",
            "GET /plaintext HTTP/1.1\r\nHost: a b\r\n\r\n",
            "GET /nope HTTP/1.1\r\nHost: a.test\r\nhost: a.test\r\n\r\n",
            "POST /items HTTP/1.1\r\nHost: u:p@a.test\r\nContent-Length: 0\r\n\r\n",
        ] {
            let answer = tokio::task::spawn_blocking(move || {
                exchange(addr, &one("bad Host", request.to_owned(), Expect::Body))
            })
            .await
            .unwrap()
            .remove(0);
            assert!(answer.status_line.starts_with("HTTP/1.1 400"), "{answer:?}");
            assert_eq!(header(&answer, "content-type"), Some("application/json"));
            assert_eq!(header(&answer, "x-request-id"), Some("<generated>"));
            assert_eq!(header(&answer, "x-content-type-options"), Some("nosniff"));
            assert_eq!(
                answer.body,
                r#"{"error":"bad_request","message":"missing or invalid Host header","status":400,"request_id":"<generated>"}"#,
                "{request:?}"
            );
        }
    }
    standard.shutdown().await.unwrap();
    performance.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_are_the_same_in_both_modes_and_absent_on_fast_routes() {
    let (standard, performance) = both_modes().await;
    for server in [&standard, &performance] {
        let addr = server.addr;
        let (api, fast) = tokio::task::spawn_blocking(move || {
            (
                exchange(addr, &one("welcome", get("/"), Expect::Body)).remove(0),
                exchange(addr, &one("fast", get("/json"), Expect::Body)).remove(0),
            )
        })
        .await
        .unwrap();
        assert_eq!(header(&api, "x-content-type-options"), Some("nosniff"));
        assert_eq!(header(&api, "x-frame-options"), Some("DENY"));
        assert_eq!(
            header(&api, "content-security-policy"),
            Some("default-src 'none'; frame-ancestors 'none'")
        );
        assert_eq!(header(&fast, "x-content-type-options"), None);
        assert_eq!(header(&fast, "content-security-policy"), None);
    }
    standard.shutdown().await.unwrap();
    performance.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_routes_and_pipelines_answer_as_documented() {
    let (standard, performance) = both_modes().await;
    for server in [&standard, &performance] {
        let addr = server.addr;
        let answers = tokio::task::spawn_blocking(move || {
            let pipeline = cases().pop().expect("pipeline case");
            exchange(addr, &pipeline)
        })
        .await
        .unwrap();
        let statuses: Vec<&str> = answers.iter().map(|a| &a.status_line[9..12]).collect();
        assert_eq!(
            statuses,
            [
                "200", "200", "200", "200", "404", "200", "200", "405", "200", "200", "404", "405",
                "200", "200", "200", "200"
            ]
        );
        assert_eq!(answers[0].body, r#"{"message":"Hello, World!"}"#);
        assert_eq!(answers[2].body, "Hello, World!");
        assert_eq!(answers[5].body, "5");
        assert!(
            answers[9]
                .headers
                .contains(&("x-request-id".into(), "pipelined-id".into()))
        );
        assert!(answers[13].body.contains(r#""a":1"#));
    }
    standard.shutdown().await.unwrap();
    performance.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish_in_both_modes() {
    for mode in [ServerMode::Standard, ServerMode::Performance] {
        let gate = Gate::default();
        let mut server = start_app(app_with(config_in(mode), gate.clone()).await).await;
        let url = server.url("/slow");
        let in_flight = tokio::spawn(async move {
            let response = client().get(url).send().await?;
            let status = response.status();
            Ok::<_, reqwest::Error>((status, response.text().await?))
        });
        gate.started().await;
        server.begin_shutdown().await;
        assert!(
            !server.is_finished() && !in_flight.is_finished(),
            "{mode}: shutdown waits for the request it holds"
        );
        let base = server.base.clone();
        gate.open();
        let (status, body) = within("the in-flight answer", in_flight)
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{mode}: the in-flight request was cut: {e}"));
        assert_eq!((status.as_u16(), body.as_str()), (200, "done"), "{mode}");
        server.shutdown().await.expect("clean shutdown");
        assert!(
            client().get(format!("{base}/")).send().await.is_err(),
            "{mode}: no new connections after shutdown"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_window_answers_the_same_in_both_modes() {
    let mut servers = Vec::new();
    for mode in [ServerMode::Standard, ServerMode::Performance] {
        let mut config = parity_config(mode);
        // Longer than the exchanges below take, shorter than `within` waits for the end.
        config.shutdown_delay = Duration::from_secs(3);
        servers.push(start_app(app(config).await).await);
    }
    let mut answers = Vec::new();
    for server in &mut servers {
        // Asked once, so the drain is announced before the listener closes.
        let ready = client()
            .get(server.url("/readyz"))
            .send()
            .await
            .expect("ready");
        assert_eq!(ready.status(), 200);
        server.begin_shutdown().await;
        let url = server.url("/readyz");
        within("/readyz to answer 503", async {
            while client().get(&url).send().await.expect("served").status() != 503 {}
        })
        .await;
        let addr = server.addr;
        let exchanged = tokio::task::spawn_blocking(move || {
            let cases = drain_window_cases();
            cases
                .iter()
                .map(|case| exchange(addr, case))
                .collect::<Vec<_>>()
        });
        answers.push(exchanged.await.expect("exchanges"));
    }
    let cases = drain_window_cases();
    for (case, (standard, performance)) in cases.iter().zip(answers[0].iter().zip(&answers[1])) {
        let expected = if case.name.contains("readiness") {
            "503"
        } else {
            "200"
        };
        assert_eq!(
            standard[0].status_line.split(' ').nth(1),
            Some(expected),
            "{}: {standard:?}",
            case.name
        );
        assert_eq!(standard, performance, "{}", case.name);
    }
    for server in servers {
        server
            .shutdown()
            .await
            .expect("a clean exit after the window");
    }
}

/// What a draining server is asked while `/readyz` answers `503`.
fn drain_window_cases() -> Vec<Case> {
    use Expect::{Body, NoBody};
    vec![
        one("readiness while draining", get("/readyz"), Body),
        one(
            "HEAD readiness while draining",
            req("HEAD", "/readyz", "", ""),
            NoBody,
        ),
        one("liveness while draining", get("/healthz"), Body),
        one("fast route while draining", get("/json"), Body),
        one(
            "route while draining",
            req("POST", "/echo", "", "hello"),
            Body,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drain_is_bounded_in_both_modes() {
    for mode in [ServerMode::Standard, ServerMode::Performance] {
        let mut config = config_in(mode);
        config.shutdown_timeout = Duration::from_millis(100);
        let gate = Gate::default();
        let mut server = start_app(app_with(config, gate.clone()).await).await;
        let url = server.url("/slow");
        let in_flight = tokio::spawn(async move { client().get(url).send().await });
        // The gate stays shut: only the drain deadline can end this shutdown.
        gate.started().await;
        let started = Instant::now();
        server.begin_shutdown().await;
        server.shutdown().await.expect("shutdown");
        assert!(
            started.elapsed() >= Duration::from_millis(100),
            "{mode}: gave up on the request before the drain deadline"
        );
        // Its socket is shut down at the deadline, though its handler still waits.
        assert!(
            within("the cut request to fail", in_flight)
                .await
                .unwrap()
                .is_err(),
            "{mode}: the unfinished request was cut"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_port_fails_in_both_modes() {
    for first_mode in [ServerMode::Performance, ServerMode::Standard] {
        let first = start_app(app(config_in(first_mode)).await).await;
        for second_mode in [ServerMode::Performance, ServerMode::Standard] {
            let mut config = config_in(second_mode);
            config.port = first.addr.port();
            let error = app(config).await.bind().await.expect_err("port in use");
            assert!(error.is_bind(), "{error}");
            assert!(
                error.to_string().contains("in use"),
                "{first_mode} then {second_mode}: {error}"
            );
        }
        first.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn performance_mode_spreads_over_workers_and_resolves_names() {
    let mut config = config_in(ServerMode::Performance);
    config.host = "localhost".to_owned();
    config.workers = 3;
    let server = start_app(app(config).await).await;
    let addr = server.addr;
    // Fresh connections land on whichever worker the kernel picks: every one is
    // answered, and within a bounded number of them at least two workers answer.
    let workers = tokio::task::spawn_blocking(move || {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let mut stream = TcpStream::connect(addr).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            stream
                .write_all(b"GET /thread HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
                .expect("write");
            let mut answer = String::new();
            stream.read_to_string(&mut answer).expect("read");
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            let (_, name) = answer.split_once("\r\n\r\n").expect("body");
            assert!(name.starts_with("chopin-worker-"), "served by {name:?}");
            seen.insert(name.to_owned());
            if seen.len() >= 2 {
                break;
            }
        }
        seen
    })
    .await
    .unwrap();
    assert!(
        workers.len() >= 2,
        "200 connections all served by {workers:?}"
    );
    let response = client().get(server.url("/plaintext")).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "Hello, World!");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn performance_mode_closes_connections_that_send_headers_too_slowly() {
    let mut config = config_in(ServerMode::Performance);
    config.header_read_timeout = Some(Duration::from_secs(1));
    let server = start_app(app(config).await).await;
    let addr = server.addr;
    let (waited, answer) = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let started = Instant::now();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n")
            .expect("partial head");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        (
            started.elapsed(),
            String::from_utf8_lossy(&answer).into_owned(),
        )
    })
    .await
    .unwrap();
    assert!(waited >= Duration::from_secs(1), "closed after {waited:?}");
    assert!(waited < Duration::from_secs(4), "closed after {waited:?}");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );

    // A client that keeps up is served as usual.
    let response = client().get(server.url("/plaintext")).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "Hello, World!");
    server.shutdown().await.unwrap();
}
