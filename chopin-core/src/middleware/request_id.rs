//! Request ids: kept from the client's `x-request-id`, otherwise generated.
//!
//! Generated ids are a random per-process prefix and a counter (`3f9a1c0e-1b`): unique
//! across restarts and instances without a syscall per request, which a random UUID
//! per request would cost.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use http::{HeaderName, HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone, Debug)]
pub(crate) struct CounterRequestId {
    prefix: u32,
    next: Arc<AtomicU64>,
}

impl CounterRequestId {
    pub(crate) fn new() -> Self {
        let mut bytes = [0; 4];
        // Without OS randomness, ids stay unique within the process; the clock keeps
        // restarts apart.
        if getrandom::fill(&mut bytes).is_err() {
            bytes = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or_default()
                .to_ne_bytes();
        }
        Self {
            prefix: u32::from_ne_bytes(bytes),
            next: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for CounterRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::try_from(format!("{:08x}-{n:x}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}
