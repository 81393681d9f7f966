//! [`Routes`]: the service an application's own layers wrap ([`crate::App::layer`]).

use std::{
    convert::Infallible,
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Router,
    extract::Request,
    response::{IntoResponse, Response},
    routing::future::RouteFuture,
};
use pin_project_lite::pin_project;
use tower::{Service, ServiceExt};

use crate::middleware::json_errors::{RenderErrors, RenderErrorsFuture};

type BoxFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

/// Answers a request with a fresh clone of a layered service.
type Call = dyn Fn(Request) -> BoxFuture + Send + Sync;

/// Your routes, Chopin's and the fallback, with the layers added so far: what the layer
/// given to [`crate::App::layer`] wraps. Like axum's `Route`, it is always ready, and
/// each request is answered by a clone of your layer's service that is polled ready
/// first, inside Chopin's request timeout.
///
/// Cloning copies a reference count; a request costs one allocation per layer.
#[derive(Clone)]
pub struct Routes(Inner);

#[derive(Clone)]
enum Inner {
    /// No layers of yours: Chopin's outermost layer renders error bodies.
    Router(Router),
    /// The bottom of your layers: error bodies are rendered before they see them.
    Rendered(RenderErrors<Router>),
    Layered(Arc<Call>),
}

impl Routes {
    pub(crate) fn new(router: Router) -> Self {
        Self(Inner::Router(router))
    }

    /// `self` wrapped in `layer`; error bodies are rendered inside the first one.
    pub(crate) fn layer<L>(self, layer: L, error_body_timeout: Duration) -> Self
    where
        L: tower::Layer<Routes>,
        L::Service: Service<Request, Error = Infallible> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        let inner = match self.0 {
            Inner::Router(router) => Self(Inner::Rendered(RenderErrors::new(
                router,
                error_body_timeout,
            ))),
            layered => Self(layered),
        };
        let service = layer.layer(inner);
        Self(Inner::Layered(Arc::new(move |request| {
            let service = service.clone();
            Box::pin(async move {
                match service.oneshot(request).await {
                    Ok(response) => response.into_response(),
                    Err(never) => match never {},
                }
            })
        })))
    }
}

impl fmt::Debug for Routes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Router(router) => f.debug_tuple("Routes").field(router).finish(),
            Inner::Rendered(_) | Inner::Layered(_) => f.write_str("Routes(layered)"),
        }
    }
}

impl Service<Request> for Routes {
    type Response = Response;
    type Error = Infallible;
    type Future = RoutesFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // A layered service is polled ready on its own clone, in `call`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> RoutesFuture {
        let state = match &mut self.0 {
            Inner::Router(router) => State::Router {
                future: router.call(request),
            },
            Inner::Rendered(rendered) => State::Rendered {
                future: rendered.call(request),
            },
            Inner::Layered(call) => State::Layered {
                future: call(request),
            },
        };
        RoutesFuture { state }
    }
}

pin_project! {
    /// The response future of [`Routes`].
    pub struct RoutesFuture {
        #[pin]
        state: State,
    }
}

pin_project! {
    #[project = StateProj]
    enum State {
        Router { #[pin] future: RouteFuture<Infallible> },
        Rendered { #[pin] future: RenderErrorsFuture<RouteFuture<Infallible>> },
        Layered { future: BoxFuture },
    }
}

impl Future for RoutesFuture {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Router { future } => future.poll(cx),
            StateProj::Rendered { future } => future.poll(cx),
            StateProj::Layered { future } => future.as_mut().poll(cx).map(Ok),
        }
    }
}

impl fmt::Debug for RoutesFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RoutesFuture")
    }
}
