//! The request path of both modes: fast routes first, then the application router.

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, ready},
};

use axum::{body::Body, extract::ConnectInfo};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, Version, header};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use tower::Service as _;

use super::drain::Closing;
use crate::{
    fast_route::FastRoutes,
    middleware::{FixedAnswer, FixedAnswers, valid_host},
};

pub(super) type ChopinBody = Either<Full<Bytes>, Body>;

/// What the servers need of the router inside its middleware.
pub(super) trait AppService:
    tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> AppService for T where
    T: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// One per connection; cloning copies reference counts, never allocates.
#[derive(Debug)]
pub(super) struct ChopinService<S> {
    fast_routes: Arc<FastRoutes>,
    /// The router inside the default middleware, which leaves `Host` to this service.
    /// Shared: the stack is large, and each connection holds a `ChopinService`.
    app: Arc<S>,
    /// The same, for the fast lane, which writes the request id and the security
    /// headers itself ([`crate::middleware::Stamp::ByServer`]).
    lane_app: Arc<S>,
    /// The answers to a bad `Host` and to a panicked computed fast route.
    answers: FixedAnswers,
    /// Set when the fast lane hands over a connection whose next request panicked its
    /// computed route there: hyper answers it with the `500` instead of running the
    /// handler again.
    next_panicked: AtomicBool,
    /// The connection's peer, given to every request the router gets as axum's
    /// `ConnectInfo` (for `ClientIp` and rate limits); `None` only before a connection
    /// is accepted.
    peer: Option<SocketAddr>,
    /// Set once the drain is announced: HTTP/1 answers then carry `connection: close`,
    /// so hyper ends the connection after the answer instead of the server closing it
    /// idle, under a request a proxy may be sending.
    closing: Option<Closing>,
}

impl<S: Clone> Clone for ChopinService<S> {
    fn clone(&self) -> Self {
        Self {
            fast_routes: Arc::clone(&self.fast_routes),
            app: Arc::clone(&self.app),
            lane_app: Arc::clone(&self.lane_app),
            answers: self.answers.clone(),
            next_panicked: AtomicBool::new(false),
            peer: self.peer,
            closing: self.closing.clone(),
        }
    }
}

impl<S> ChopinService<S>
where
    S: AppService,
{
    pub(super) fn new(fast_routes: FastRoutes, app: S, lane_app: S, answers: FixedAnswers) -> Self {
        Self {
            fast_routes: Arc::new(fast_routes),
            app: Arc::new(app),
            lane_app: Arc::new(lane_app),
            answers,
            next_panicked: AtomicBool::new(false),
            peer: None,
            closing: None,
        }
    }

    /// This service, closing connections after their answers once `closing` is set.
    pub(super) fn closing_on(mut self, closing: Closing) -> Self {
        self.closing = Some(closing);
        self
    }

    /// This service, for a connection from `peer`.
    pub(super) fn for_peer(mut self, peer: SocketAddr) -> Self {
        self.peer = Some(peer);
        self
    }

    pub(super) fn fast_routes(&self) -> Arc<FastRoutes> {
        Arc::clone(&self.fast_routes)
    }

    /// The connection's peer.
    pub(super) fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The router inside the stack for the fast lane, which builds and checks its
    /// requests (`Host` included), gives them their `ConnectInfo` and request id, and
    /// writes the request id and security headers itself. The stack and the router are
    /// always ready: one per connection answers every request, no `poll_ready` wait.
    pub(super) fn lane_app(&self) -> S {
        S::clone(&self.lane_app)
    }

    /// This service, answering its first request with the panic `500`.
    pub(super) fn after_panic(self) -> Self {
        self.next_panicked.store(true, Ordering::Relaxed);
        self
    }

    fn fixed(
        answer: &FixedAnswer,
        request: Request<Incoming>,
        close: bool,
    ) -> ChopinFuture<S::Future> {
        ChopinFuture::Fixed {
            future: answer.clone().call(request),
            close,
        }
    }
}

/// hyper calls the service directly, in both modes.
impl<S> hyper::service::Service<Request<Incoming>> for ChopinService<S>
where
    S: AppService,
{
    type Response = Response<ChopinBody>;
    type Error = Infallible;
    type Future = ChopinFuture<S::Future>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        // HTTP/2 ends with GOAWAY instead, where the header is not allowed.
        let close = request.version() < Version::HTTP_2
            && self.closing.as_ref().is_some_and(Closing::is_set);
        if self.next_panicked.load(Ordering::Relaxed) {
            self.next_panicked.store(false, Ordering::Relaxed);
            return Self::fixed(&self.answers.panicked, request, close);
        }
        if !valid_host(&request) {
            return Self::fixed(&self.answers.bad_host, request, close);
        }
        match self.fast_routes.respond(&request) {
            Some(Ok(response)) => ChopinFuture::Fast {
                response: Some(closed(response.map(Either::Left), close)),
            },
            Some(Err(_panicked)) => Self::fixed(&self.answers.panicked, request, close),
            None => {
                let mut request = request.map(Body::new);
                if let Some(peer) = self.peer {
                    // One boxed value in the map hyper and axum allocate per request
                    // anyway: about 220 instructions of 18,450 on router `/` (callgrind,
                    // 1.2%). Fast routes skip it.
                    request.extensions_mut().insert(ConnectInfo(peer));
                }
                ChopinFuture::Router {
                    // The stack and the router are always ready, so no `poll_ready` wait.
                    future: S::clone(&self.app).call(request),
                    close,
                }
            }
        }
    }
}

pin_project! {
    #[project = ChopinFutureProj]
    pub(super) enum ChopinFuture<F> {
        Fast { response: Option<Response<ChopinBody>> },
        Router { #[pin] future: F, close: bool },
        Fixed { #[pin] future: <FixedAnswer as tower::Service<Request<Incoming>>>::Future, close: bool },
    }
}

impl<F> Future for ChopinFuture<F>
where
    F: Future<Output = Result<Response<Body>, Infallible>>,
{
    type Output = Result<Response<ChopinBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ChopinFutureProj::Fast { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => Poll::Pending,
            },
            ChopinFutureProj::Router { future, close } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(closed(response.map(Either::Right), *close)))
            }
            ChopinFutureProj::Fixed { future, close } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(closed(response.map(Either::Right), *close)))
            }
        }
    }
}

/// `response`, with `connection: close` if `close`: hyper then ends the connection
/// once it is written, as it does for the answer in flight when the drain starts.
pub(super) fn closed<B>(mut response: Response<B>, close: bool) -> Response<B> {
    if close {
        (response.headers_mut()).insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
