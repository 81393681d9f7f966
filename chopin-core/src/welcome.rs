//! `GET /`: a small JSON welcome naming the framework, version, mode and docs.

use axum::{Router, routing::get};
use bytes::Bytes;
use http::{HeaderValue, header};

use crate::config::ServerMode;

/// Where the API docs are served.
pub(crate) const DOCS_PATH: &str = "/api-docs";

pub(crate) fn router(mode: ServerMode) -> Router {
    let body = Bytes::from(
        serde_json::json!({
            "framework": "chopin",
            "version": env!("CARGO_PKG_VERSION"),
            "mode": mode.as_str(),
            "docs": DOCS_PATH,
        })
        .to_string(),
    );
    Router::new().route(
        "/",
        get(move || {
            let body = body.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    )],
                    body,
                )
            }
        }),
    )
}
