//! The request path of both modes: fast routes first, then the application router.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use axum::{BoxError, Router, body::Body, body::HttpBody, routing::future::RouteFuture};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use tower::Service as _;

use crate::fast_route::FastRoutes;

pub(super) type ChopinBody = Either<Full<Bytes>, Body>;

/// One per connection; cloning is two reference-count increments.
#[derive(Clone, Debug)]
pub(super) struct ChopinService {
    fast_routes: Arc<FastRoutes>,
    router: Router,
}

impl ChopinService {
    pub(super) fn new(fast_routes: FastRoutes, router: Router) -> Self {
        Self {
            fast_routes: Arc::new(fast_routes),
            router,
        }
    }

    fn dispatch<B>(&self, request: Request<B>) -> ChopinFuture
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        match self.fast_routes.respond(&request) {
            Some(response) => ChopinFuture::Fast {
                response: Some(response.map(Either::Left)),
            },
            None => ChopinFuture::Router {
                // Router's `poll_ready` is always ready; a clone is an Arc increment.
                future: self.router.clone().call(request),
            },
        }
    }
}

/// Performance mode: hyper calls the service directly.
impl hyper::service::Service<Request<Incoming>> for ChopinService {
    type Response = Response<ChopinBody>;
    type Error = Infallible;
    type Future = ChopinFuture;

    fn call(&self, request: Request<Incoming>) -> ChopinFuture {
        self.dispatch(request)
    }
}

/// Standard mode: `axum::serve` wants a tower service answering axum's `Response`.
impl tower::Service<Request<Body>> for ChopinService {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = IntoAxumResponse;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> IntoAxumResponse {
        IntoAxumResponse {
            inner: self.dispatch(request),
        }
    }
}

pin_project! {
    #[project = ChopinFutureProj]
    pub(super) enum ChopinFuture {
        Fast { response: Option<Response<ChopinBody>> },
        Router { #[pin] future: RouteFuture<Infallible> },
    }
}

impl Future for ChopinFuture {
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
        }
    }
}

pin_project! {
    pub(super) struct IntoAxumResponse {
        #[pin]
        inner: ChopinFuture,
    }
}

impl Future for IntoAxumResponse {
    type Output = Result<axum::response::Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = ready!(self.project().inner.poll(cx))?;
        Poll::Ready(Ok(response.map(|body| match body {
            Either::Left(fast) => Body::new(fast),
            Either::Right(routed) => routed,
        })))
    }
}
