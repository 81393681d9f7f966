//! Chopin's fallback: `GET /` answers a small JSON welcome (framework, version, mode,
//! docs), any other unmatched request the JSON 404.
//!
//! One handler rather than a second router behind the first: a nested router doubled
//! the routing work of every request that reached it.

use axum::{
    Router,
    body::Body,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, Uri, header};

use serde::Serialize;
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{ContentBuilder, PathItem},
};

use crate::{api_error::ApiError, config::ServerMode, openapi, paths::DOCS_PATH};

/// What `GET /` answers.
#[derive(Serialize, ToSchema)]
struct Welcome {
    #[schema(example = "chopin")]
    framework: &'static str,
    #[schema(example = "0.1.0")]
    version: &'static str,
    /// `standard` or `performance`.
    #[schema(example = "standard")]
    mode: &'static str,
    /// Where the API docs are.
    #[schema(example = "/api-docs")]
    docs: &'static str,
}

/// `GET` and `HEAD /` for the OpenAPI document (a fallback is not a route utoipa sees).
pub(crate) fn documentation() -> PathItem {
    openapi::get_and_head(
        "Welcome document",
        "Framework, version, mode and docs path",
        "application/json",
        ContentBuilder::new()
            .schema(Some(Welcome::schema()))
            .build(),
    )
}

/// Sets the fallback of `routes`: your `/` (if any) wins, since fallbacks only see
/// requests no route matched.
pub(crate) fn fallback(routes: Router, mode: ServerMode) -> Router {
    let welcome = Welcome {
        framework: "chopin",
        version: env!("CARGO_PKG_VERSION"),
        mode: mode.as_str(),
        docs: DOCS_PATH,
    };
    // A struct of four strings always serialises.
    let welcome = Bytes::from(serde_json::to_vec(&welcome).unwrap_or_default());
    routes.fallback(move |method: Method, uri: Uri| {
        let response = answer(&welcome, &method, &uri);
        async move { response }
    })
}

fn answer(welcome: &Bytes, method: &Method, uri: &Uri) -> Response {
    if uri.path() != "/" {
        // Without the method: `HEAD` must answer the headers, `Content-Length` included,
        // that `GET` would.
        return ApiError::not_found(format!("no route for {}", uri.path())).into_response();
    }
    if *method == Method::GET || *method == Method::HEAD {
        // Built directly: `(headers, Bytes)` would set a content type and then replace it.
        let mut response = Response::new(Body::from(welcome.clone()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return response;
    }
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, HeaderValue::from_static("GET,HEAD"))],
    )
        .into_response()
}
