//! [`RateLimit`]: a limit on the requests each client address may make, for your routes
//! and Chopin's.
//!
//! Each limit is a [`governor`](https://docs.rs/governor) GCRA keyed by [`ClientIp`],
//! kept in memory and shared by every thread of the process (both server modes, every
//! performance-mode worker). Several instances of the app each keep their own: see
//! docs/security.md.

use std::{
    fmt,
    future::Future,
    net::IpAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::response::{IntoResponse, Response};
use governor::{
    Quota, RateLimiter,
    clock::{Clock, MonotonicClock},
    nanos::Nanos,
    state::{
        NotKeyed, StateStore,
        keyed::{DashMapStateStore, ShrinkableKeyedStateStore},
    },
};
use http::Request;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::{api_error::ApiError, client_ip::ClientIp};

/// Client addresses a limit keeps buckets for by default.
const MAX_CLIENTS: usize = 100_000;

/// How often buckets that are full again (indistinguishable from new ones) are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The same, while the limit keeps as many clients as it may: new clients share one
/// bucket until a sweep makes room, so room is looked for sooner.
const SWEEP_WHEN_FULL: Duration = Duration::from_secs(1);

/// Limits the requests each client address ([`ClientIp`]) may make: `count` per
/// `period`, all at once or spread out, refilled at one every `period / count`. A
/// request over the limit is answered `429 Too Many Requests` in the [`ApiError`] JSON
/// shape (`"error":"too_many_requests"`), with `Retry-After` in whole seconds (rounded
/// up), without reaching the service it wraps.
///
/// Each `RateLimit` value keeps its own buckets, and its clones share them. Layered on
/// one route (`MethodRouter::layer`), it limits that route; layered on a router
/// (`Router::route_layer`), all its routes draw from one budget per client. Build one per
/// route to give each route its own. The buckets live in this process, shared by all its
/// threads in both server modes; each instance of the app keeps its own.
///
/// An IPv6 client is limited by its `/64` network, which one host or subscriber usually
/// has whole: counting each of its addresses apart would give it 2⁶⁴ budgets. Requests
/// without a peer address (built in a test and sent with `oneshot`, without
/// `MockConnectInfo`) all share one bucket.
///
/// Memory stays bounded: buckets that are full again are dropped every 10 seconds, and
/// one limit keeps at most [`RateLimit::max_clients`] addresses (100,000 by default,
/// a few MiB); past that, addresses it does not know share one bucket until room is made.
///
/// ```
/// use std::time::Duration;
///
/// use chopin_core::{
///     App, Config,
///     axum::{Router, routing::{get, post}},
///     rate_limit::RateLimit,
/// };
///
/// # async fn build() -> Result<(), chopin_core::Error> {
/// // 5 messages a minute per client address on this route alone.
/// let contact = Router::new().route("/contact", post(|| async { "sent" }).layer(RateLimit::per_minute(5)));
/// // 300 requests per 10 minutes per client address, across both routes.
/// let search = Router::new()
///     .route("/search", get(|| async { "results" }))
///     .route("/suggest", get(|| async { "ideas" }))
///     .route_layer(RateLimit::new(300, Duration::from_secs(600)));
/// let app = App::with_config(Config::from_vars([("DATABASE_URL", "sqlite::memory:")])?)
///     .await?
///     .router(contact.merge(search));
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
///
/// Over the limit:
///
/// ```
/// use std::net::SocketAddr;
///
/// use chopin_core::{
///     axum::{Router, body::Body, extract::connect_info::MockConnectInfo, routing::get},
///     http::{Request, StatusCode, header},
///     rate_limit::RateLimit,
///     tower::ServiceExt,
/// };
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = Router::new()
///     .route("/", get(|| async { "hi" }))
///     .route_layer(RateLimit::per_minute(2))
///     .layer(MockConnectInfo(SocketAddr::from(([192, 0, 2, 7], 4711))));
/// let get = || Request::get("/").body(Body::empty()).unwrap();
/// assert_eq!(app.clone().oneshot(get()).await.unwrap().status(), StatusCode::OK);
/// assert_eq!(app.clone().oneshot(get()).await.unwrap().status(), StatusCode::OK);
/// let refused = app.oneshot(get()).await.unwrap();
/// assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
/// assert_eq!(refused.headers()[header::RETRY_AFTER], "30"); // one request refills in 30 s
/// # }
/// ```
#[must_use = "a RateLimit does nothing until it is given to `layer` or `route_layer`"]
#[derive(Clone)]
pub struct RateLimit {
    limiter: Arc<Limiter>,
}

impl RateLimit {
    /// `count` requests per `period` for each client address.
    ///
    /// # Panics
    ///
    /// If `count` is `0`, or `period` is shorter than `count` nanoseconds.
    #[track_caller]
    pub fn new(count: u32, period: Duration) -> Self {
        let quota = std::num::NonZeroU32::new(count)
            .and_then(|burst| Some(Quota::with_period(period / count)?.allow_burst(burst)));
        let Some(quota) = quota else {
            panic!(
                "RateLimit::new({count}, {period:?}): allow at least one request per period of at least {count} ns"
            );
        };
        Self::with_quota(quota, MAX_CLIENTS)
    }

    /// `count` requests per second for each client address.
    ///
    /// # Panics
    ///
    /// If `count` is `0`.
    #[track_caller]
    pub fn per_second(count: u32) -> Self {
        Self::new(count, Duration::from_secs(1))
    }

    /// `count` requests per minute for each client address.
    ///
    /// # Panics
    ///
    /// If `count` is `0`.
    #[track_caller]
    pub fn per_minute(count: u32) -> Self {
        Self::new(count, Duration::from_secs(60))
    }

    /// `count` requests per hour for each client address.
    ///
    /// # Panics
    ///
    /// If `count` is `0`.
    #[track_caller]
    pub fn per_hour(count: u32) -> Self {
        Self::new(count, Duration::from_secs(3600))
    }

    /// Keeps buckets for at most `max` client addresses (default 100,000, about 40 bytes
    /// each); past that, requests from addresses not seen before share one bucket until
    /// the ones that are full again are dropped. It cannot be disabled: an attacker
    /// cycling addresses must not grow memory without bound. Starts with new buckets.
    pub fn max_clients(self, max: usize) -> Self {
        Self::with_quota(self.limiter.quota, max)
    }

    fn with_quota(quota: Quota, max_clients: usize) -> Self {
        let buckets = Buckets {
            map: DashMapStateStore::default(),
            len: AtomicUsize::new(0),
            max: max_clients,
        };
        Self {
            limiter: Arc::new(Limiter {
                gcra: RateLimiter::new(quota, buckets, MonotonicClock),
                quota,
                max_clients,
                start: Instant::now(),
                last_sweep: AtomicU64::new(0),
            }),
        }
    }
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quota = self.limiter.quota;
        f.debug_struct("RateLimit")
            .field("count", &quota.burst_size())
            .field("period", &quota.burst_size_replenished_in())
            .field("max_clients", &self.limiter.max_clients)
            .finish()
    }
}

impl<S> Layer<S> for RateLimit {
    type Service = RateLimited<S>;

    fn layer(&self, inner: S) -> RateLimited<S> {
        RateLimited {
            inner,
            limiter: Arc::clone(&self.limiter),
        }
    }
}

/// The service [`RateLimit`] wraps around yours.
#[derive(Clone)]
pub struct RateLimited<S> {
    inner: S,
    limiter: Arc<Limiter>,
}

impl<S> fmt::Debug for RateLimited<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimited").finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for RateLimited<S>
where
    S: Service<Request<B>>,
    S::Response: IntoResponse,
{
    type Response = Response;
    type Error = S::Error;
    type Future = RateLimitFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let client = ClientIp::resolve(request.extensions(), request.headers());
        let state = match self.limiter.check(client) {
            Ok(()) => State::Allowed {
                future: self.inner.call(request),
            },
            Err(wait) => State::Refused {
                response: Some(ApiError::too_many_requests(wait).into_response()),
            },
        };
        RateLimitFuture { state }
    }
}

pin_project! {
    /// The response future of [`RateLimited`].
    pub struct RateLimitFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Allowed { #[pin] future: F },
        Refused { response: Option<Response> },
    }
}

impl<F, R, E> Future for RateLimitFuture<F>
where
    F: Future<Output = Result<R, E>>,
    R: IntoResponse,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Allowed { future } => future.poll(cx).map_ok(IntoResponse::into_response),
            StateProj::Refused { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => Poll::Pending,
            },
        }
    }
}

impl<F> fmt::Debug for RateLimitFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RateLimitFuture")
    }
}

/// What one [`RateLimit`] and its clones share.
struct Limiter {
    gcra: RateLimiter<Key, Buckets, MonotonicClock>,
    quota: Quota,
    max_clients: usize,
    start: Instant,
    /// When stale buckets were last dropped, in nanoseconds since `start`.
    last_sweep: AtomicU64,
}

impl Limiter {
    /// `Err` with the wait when `client` is over the limit.
    fn check(&self, client: Option<ClientIp>) -> Result<(), Duration> {
        self.sweep_if_due();
        match self.gcra.check_key(&Key::of(client)) {
            Ok(()) => Ok(()),
            Err(not_until) => Err(not_until.wait_time_from(self.gcra.clock().now())),
        }
    }

    /// Drops the buckets that are full again, inline on the request that finds it due:
    /// no task to spawn on whichever runtime built the layer.
    fn sweep_if_due(&self) {
        let now = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let last = self.last_sweep.load(Ordering::Relaxed);
        let every = if self.gcra.len() >= self.max_clients {
            SWEEP_WHEN_FULL
        } else {
            SWEEP_EVERY
        };
        let due = u64::try_from(every.as_nanos()).unwrap_or(u64::MAX);
        // One thread sweeps; the others go on.
        if now.saturating_sub(last) < due
            || (self.last_sweep)
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        self.gcra.retain_recent();
        self.gcra.shrink_to_fit();
    }
}

/// What a bucket is kept for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    V4(std::net::Ipv4Addr),
    /// The `/64` network of an IPv6 address.
    V6(u64),
    /// Requests without a peer address.
    Unknown,
    /// Clients not seen before, while the limit keeps as many as it may.
    Overflow,
}

impl Key {
    fn of(client: Option<ClientIp>) -> Self {
        match client {
            Some(ClientIp(IpAddr::V4(ip))) => Self::V4(ip),
            // The upper half of the bits, so the cast keeps them all.
            Some(ClientIp(IpAddr::V6(ip))) => Self::V6((ip.to_bits() >> 64) as u64),
            None => Self::Unknown,
        }
    }
}

/// governor's concurrent map of buckets, with a cap on the keys it holds.
struct Buckets {
    map: DashMapStateStore<Key>,
    /// At least the number of keys in `map` (set at each sweep, raised by each new key),
    /// kept apart because counting the map locks each of its shards.
    len: AtomicUsize,
    max: usize,
}

impl StateStore for Buckets {
    type Key = Key;

    fn measure_and_replace<T, F, E>(&self, key: &Key, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if let Some(bucket) = self.map.get(key) {
            return bucket.measure_and_replace(&NotKeyed::NonKey, f);
        }
        let key = if self.len.fetch_add(1, Ordering::Relaxed) < self.max {
            key
        } else {
            self.len.fetch_sub(1, Ordering::Relaxed);
            &Key::Overflow
        };
        self.map.measure_and_replace(key, f)
    }
}

impl ShrinkableKeyedStateStore<Key> for Buckets {
    fn retain_recent(&self, drop_below: Nanos) {
        self.map.retain_recent(drop_below);
        self.len.store(self.map.len(), Ordering::Relaxed);
    }

    fn shrink_to_fit(&self) {
        self.map.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(ip: &str) -> Option<ClientIp> {
        Some(ClientIp(ip.parse().unwrap()))
    }

    #[test]
    fn count_then_refused_with_the_wait_for_one_refill() {
        let limit = RateLimit::per_minute(2);
        let a = client("192.0.2.1");
        assert_eq!(limit.limiter.check(a), Ok(()));
        assert_eq!(limit.limiter.check(a), Ok(()));
        let wait = limit.limiter.check(a).unwrap_err();
        assert!(
            wait > Duration::from_secs(29) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert_eq!(limit.limiter.check(client("192.0.2.2")), Ok(()));
    }

    #[test]
    fn an_ipv6_client_is_limited_by_its_64() {
        let limit = RateLimit::per_minute(1);
        assert_eq!(limit.limiter.check(client("2001:db8:1:2::1")), Ok(()));
        assert!(limit.limiter.check(client("2001:db8:1:2::ffff")).is_err());
        assert_eq!(limit.limiter.check(client("2001:db8:1:3::1")), Ok(()));
    }

    #[test]
    fn requests_without_a_peer_share_one_bucket() {
        let limit = RateLimit::per_minute(1);
        assert_eq!(limit.limiter.check(None), Ok(()));
        assert!(limit.limiter.check(None).is_err());
    }

    #[test]
    fn past_max_clients_new_addresses_share_one_bucket() {
        let limit = RateLimit::per_minute(1).max_clients(2);
        let limiter = &limit.limiter;
        assert_eq!(limiter.check(client("192.0.2.1")), Ok(()));
        assert_eq!(limiter.check(client("192.0.2.2")), Ok(()));
        // Full: the third and fourth addresses draw from one bucket.
        assert_eq!(limiter.check(client("192.0.2.3")), Ok(()));
        assert!(limiter.check(client("192.0.2.4")).is_err());
        for n in 5..1000 {
            let _ = limiter.check(client(&format!("10.0.{}.{}", n / 256, n % 256)));
        }
        // Known clients keep their own buckets.
        assert!(limiter.check(client("192.0.2.1")).is_err());
        assert!(limiter.gcra.len() <= 2);
    }

    #[test]
    fn clones_share_buckets_and_each_new_limit_has_its_own() {
        let limit = RateLimit::per_minute(1);
        let clone = limit.clone();
        let other = RateLimit::per_minute(1);
        let a = client("192.0.2.1");
        assert_eq!(limit.limiter.check(a), Ok(()));
        assert!(clone.limiter.check(a).is_err());
        assert_eq!(other.limiter.check(a), Ok(()));
    }

    #[test]
    #[should_panic(expected = "allow at least one request")]
    fn a_limit_of_zero_is_refused() {
        let _ = RateLimit::per_minute(0);
    }
}
