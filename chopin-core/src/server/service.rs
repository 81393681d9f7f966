//! The request path of both modes: fast routes first, then the application router.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, ready},
};

use axum::body::Body;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use tower::Service as _;

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
    app: S,
    /// The answers to a bad `Host` and to a panicked computed fast route.
    answers: FixedAnswers,
    /// Set when the fast lane hands over a connection whose next request panicked its
    /// computed route there: hyper answers it with the `500` instead of running the
    /// handler again.
    next_panicked: AtomicBool,
}

impl<S: Clone> Clone for ChopinService<S> {
    fn clone(&self) -> Self {
        Self {
            fast_routes: Arc::clone(&self.fast_routes),
            app: self.app.clone(),
            answers: self.answers.clone(),
            next_panicked: AtomicBool::new(false),
        }
    }
}

impl<S> ChopinService<S>
where
    S: AppService,
{
    pub(super) fn new(fast_routes: FastRoutes, app: S, answers: FixedAnswers) -> Self {
        Self {
            fast_routes: Arc::new(fast_routes),
            app,
            answers,
            next_panicked: AtomicBool::new(false),
        }
    }

    pub(super) fn fast_routes(&self) -> Arc<FastRoutes> {
        Arc::clone(&self.fast_routes)
    }

    /// This service, answering its first request with the panic `500`.
    pub(super) fn after_panic(self) -> Self {
        self.next_panicked.store(true, Ordering::Relaxed);
        self
    }

    fn fixed(answer: &FixedAnswer, request: Request<Incoming>) -> ChopinFuture<S::Future> {
        ChopinFuture::Fixed {
            future: answer.clone().call(request),
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
        if self.next_panicked.load(Ordering::Relaxed) {
            self.next_panicked.store(false, Ordering::Relaxed);
            return Self::fixed(&self.answers.panicked, request);
        }
        if !valid_host(&request) {
            return Self::fixed(&self.answers.bad_host, request);
        }
        match self.fast_routes.respond(&request) {
            Some(Ok(response)) => ChopinFuture::Fast {
                response: Some(response.map(Either::Left)),
            },
            Some(Err(_panicked)) => Self::fixed(&self.answers.panicked, request),
            None => ChopinFuture::Router {
                // The stack and the router are always ready, so no `poll_ready` wait.
                future: self.app.clone().call(request.map(Body::new)),
            },
        }
    }
}

pin_project! {
    #[project = ChopinFutureProj]
    pub(super) enum ChopinFuture<F> {
        Fast { response: Option<Response<ChopinBody>> },
        Router { #[pin] future: F },
        Fixed { #[pin] future: <FixedAnswer as tower::Service<Request<Incoming>>>::Future },
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
            ChopinFutureProj::Router { future } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(response.map(Either::Right)))
            }
            ChopinFutureProj::Fixed { future } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(response.map(Either::Right)))
            }
        }
    }
}
