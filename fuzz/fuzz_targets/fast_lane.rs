//! Arbitrary byte streams, split into arbitrary reads, fed to the fast lane: it never
//! panics, the way the stream is split changes nothing it does, every byte is either
//! consumed or handed to hyper, and every consumed request gets exactly one answer,
//! with its route's body (none for `HEAD`).

#![no_main]

use chopin_core::fuzzing::{DATE, ROUTES, feed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<u8>, Vec<u8>)| {
    let (stream, cuts) = input;
    let whole = feed(&[&stream]);

    let mut chunks = Vec::new();
    let mut rest = &stream[..];
    for &cut in &cuts {
        let (chunk, after) = rest.split_at((cut as usize).min(rest.len()));
        chunks.push(chunk);
        rest = after;
    }
    chunks.push(rest);
    let split = feed(&chunks);
    assert_eq!(whole, split, "splitting the stream into reads changed the outcome");
    assert!(whole.consumed <= stream.len());

    // One answer per consumed request, in order, with the route's body.
    let mut consumed = &stream[..whole.consumed];
    let mut answers = &whole.answers[..];
    while !consumed.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(len)) = request.parse(consumed) else {
            panic!("consumed bytes that are not a complete request");
        };
        let path = request.path.expect("a path").split('?').next().unwrap_or_default();
        let (_, body) = ROUTES
            .iter()
            .find(|(route, _)| *route == path)
            .expect("consumed a request for a fast route");
        let expected_body: &[u8] = match request.method {
            Some("HEAD") => b"",
            Some("GET") => body.as_bytes(),
            other => panic!("consumed a {other:?} request"),
        };
        consumed = &consumed[len..];

        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(head)) = response.parse(answers) else {
            panic!("an answer is missing or malformed");
        };
        assert_eq!(response.code, Some(200));
        let date = response.headers.iter().find(|h| h.name == "date").map(|h| h.value);
        assert_eq!(date, Some(DATE));
        let answer_body = &answers[head..head + expected_body.len()];
        assert_eq!(answer_body, expected_body);
        answers = &answers[head + expected_body.len()..];
    }
    assert!(answers.is_empty(), "more answers than consumed requests");
});
