//! The fast lane's parser and answer loop, driven synchronously for the fuzz target in
//! `fuzz/` (feature `fuzzing`; not part of the public API).

use std::sync::Arc;

use bytes::BytesMut;

use crate::{
    fast_route::{FastRoute, FastRoutes},
    server::fast_lane::{Buffers, FastLane, Parsed},
};

/// The bodies the fuzzed fast lane answers, by path.
pub const ROUTES: [(&str, &str); 2] = [
    ("/json", r#"{"message":"Hello, World!"}"#),
    ("/plaintext", "Hello, World!"),
];

/// A fixed `Date`, so two runs over the same requests write the same bytes.
pub const DATE: &[u8] = b"Sat, 28 Nov 2026 00:00:00 GMT";

/// The request-head limit of the fuzzed lane (the smallest the server allows).
pub const HEAD_LIMIT: usize = 8192;

/// What the fast lane did with a byte stream.
#[derive(Debug, PartialEq, Eq)]
pub struct Fed {
    /// Every answer it wrote, in order.
    pub answers: Vec<u8>,
    /// How many bytes of the stream it consumed; the rest goes to hyper.
    pub consumed: usize,
    /// Whether it handed the connection to hyper.
    pub handed_off: bool,
}

/// Feeds `chunks`, one read each, to a fast lane answering [`ROUTES`].
pub fn feed(chunks: &[&[u8]]) -> Fed {
    let routes = ROUTES
        .iter()
        .map(|(path, body)| FastRoute::json(path, *body))
        .collect();
    let lane = FastLane::new(
        Arc::new(FastRoutes::new(routes, false)),
        HEAD_LIMIT,
        None,
        None,
    );
    let (mut buf, mut buffers) = (BytesMut::new(), Buffers::default());
    let mut fed = 0;
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        fed += chunk.len();
        let (parsed, _) = lane.answer(&mut buf, &mut buffers, DATE, false);
        if !matches!(parsed, Parsed::NeedMore) || buf.len() >= HEAD_LIMIT {
            return Fed {
                answers: buffers.out.to_vec(),
                consumed: fed - buf.len(),
                handed_off: true,
            };
        }
    }
    Fed {
        answers: buffers.out.to_vec(),
        consumed: fed - buf.len(),
        handed_off: false,
    }
}
