//! Chopin's fallback: `GET /` answers a small JSON welcome (framework, version, mode,
//! docs), any other unmatched request the JSON 404.
//!
//! One handler rather than a second router behind the first: a nested router doubled
//! the routing work of every request that reached it.

use axum::{
    Router,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, Uri, header};

use crate::{api_error::ApiError, config::ServerMode};

/// Where the API docs are served.
pub(crate) const DOCS_PATH: &str = "/api-docs";

/// Sets the fallback of `routes`: your `/` (if any) wins, since fallbacks only see
/// requests no route matched.
pub(crate) fn fallback(routes: Router, mode: ServerMode) -> Router {
    let welcome = Bytes::from(
        serde_json::json!({
            "framework": "chopin",
            "version": env!("CARGO_PKG_VERSION"),
            "mode": mode.as_str(),
            "docs": DOCS_PATH,
        })
        .to_string(),
    );
    routes.fallback(move |method: Method, uri: Uri| {
        let response = answer(&welcome, &method, &uri);
        async move { response }
    })
}

fn answer(welcome: &Bytes, method: &Method, uri: &Uri) -> Response {
    if uri.path() != "/" {
        return ApiError::not_found(format!("no route for {method} {}", uri.path()))
            .into_response();
    }
    if *method == Method::GET || *method == Method::HEAD {
        return (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            welcome.clone(),
        )
            .into_response();
    }
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, HeaderValue::from_static("GET,HEAD"))],
    )
        .into_response()
}
