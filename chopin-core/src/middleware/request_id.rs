//! Request ids: kept from the client's `x-request-id`, otherwise generated.
//!
//! Generated ids are a random per-thread prefix and a per-thread counter
//! (`3f9a1c0e-1b`): unique across threads, restarts and instances without a syscall or
//! a shared atomic per request, which a random UUID or a global counter would cost.

use std::cell::Cell;

use http::{HeaderName, HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

thread_local! {
    static NEXT_ID: (u32, Cell<u64>) = (random_prefix(), Cell::new(1));
}

fn random_prefix() -> u32 {
    let mut bytes = [0; 4];
    // Without OS randomness, the clock still keeps threads and restarts apart.
    if getrandom::fill(&mut bytes).is_err() {
        bytes = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default()
            .to_ne_bytes();
    }
    u32::from_ne_bytes(bytes)
}

/// A fresh request id from this thread's sequence.
pub(crate) fn next_request_id() -> HeaderValue {
    let id = NEXT_ID.with(|(prefix, next)| {
        let n = next.get();
        next.set(n.wrapping_add(1));
        format!("{prefix:08x}-{n:x}")
    });
    // Hex digits and a dash are always a valid header value.
    HeaderValue::try_from(id).unwrap_or(HeaderValue::from_static("0"))
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ThreadRequestId;

impl MakeRequestId for ThreadRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        Some(RequestId::new(next_request_id()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_within_and_across_threads() {
        let here: Vec<HeaderValue> = (0..3).map(|_| next_request_id()).collect();
        let there = std::thread::spawn(next_request_id).join().unwrap();
        assert_ne!(here[0], here[1]);
        assert_ne!(here[1], here[2]);
        assert!(!here.contains(&there));
    }
}
