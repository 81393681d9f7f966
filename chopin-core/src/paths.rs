//! Paths Chopin serves that other parts of it must know.

/// Where the API docs page lives.
pub(crate) const DOCS_PATH: &str = "/api-docs";

/// Where the OpenAPI document lives.
pub(crate) const SPEC_PATH: &str = "/api-docs/openapi.json";
