//! Chopin: a batteries-included web framework on axum and hyper.
//!
//! ```no_run
//! #[tokio::main]
//! async fn main() -> Result<(), chopin_core::Error> {
//!     let app = chopin_core::App::new().await?; // configuration from env and .env
//!     app.run().await // standard or performance, by SERVER_MODE
//! }
//! ```
//!
//! # Layout
//!
//! - `app`: [`App`], which gathers configuration, your routes and fast routes into one
//!   router.
//! - `config`: [`Config`] from environment variables, `.env` files or code: one table
//!   of settings gives the fields, [`vars`], defaults, rules and messages. Its leaves:
//!   `config/rules` (the kinds of setting), `config/values` (the setting types) and
//!   `config/database_url` ([`DatabaseUrl`], parsed once and masked when printed).
//! - `db`: the database pool ([`Db`]) from `DATABASE_URL`, migrations, and database
//!   failures as `503`/`500`.
//! - [`auth`]: users, argon2id passwords, HS256 tokens, the `/api/auth` routes and the
//!   [`auth::AuthUser`] / [`auth::RequireRole`] extractors.
//! - `state`: [`AppState`], the pool and keys your handlers share with Chopin's.
//! - `client_ip`: [`ClientIp`], the client's address: the connection's peer, or what
//!   the [`TrustedProxies`] in front of the app forwarded.
//! - [`rate_limit`]: [`rate_limit::RateLimit`], a per-client-address limit on requests
//!   for any route, kept in memory.
//! - `error`: [`Error`], why the server could not start or keep serving.
//! - `api_error`: [`ApiError`], the one JSON shape of every error response.
//! - `fast_route`: [`FastRoute`], static and computed responses answered without the
//!   router, and what they answer to each method.
//! - `middleware`: the default stack (request id, security headers, JSON errors, Host
//!   check, tracing, CORS, timeout, panic → 500, body limit), the same in both modes.
//! - `server`: [`Server`], binding, both modes' serving loops, the performance-mode
//!   request path and graceful shutdown.
//! - `openapi`: the OpenAPI 3.1 document at `/api-docs/openapi.json` and the offline
//!   Swagger UI page at `/api-docs`.
//! - `welcome`: the `GET /` welcome document.
//! - `health`: `GET /healthz` and `GET /readyz` for load balancers, and the readiness
//!   the server turns off when it begins to shut down.
//! - `telemetry`: the log subscriber.
//! - `project`: [`Project`], an application told once (its build function, migrations
//!   and seed) for its `main`, its tests and the `chopin` command.
//! - `cli` (feature `cli`): [`Project::main`], the application binary's commands:
//!   `db`, `routes`, `openapi`, `doctor`, `user`, `jobs`.
//! - [`testing`]: [`testing::TestApp`], the application on a fresh database answering
//!   requests without a socket.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod api_error;
mod app;
pub mod auth;
#[cfg(feature = "cli")]
mod cli;
mod client_ip;
mod clock;
mod config;
mod db;
mod error;
mod fast_route;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod health;
pub mod jobs;
pub mod mail;
mod middleware;
mod openapi;
mod paths;
mod project;
pub mod rate_limit;
mod routes;
mod server;
mod state;
mod telemetry;
pub mod testing;
mod tokens;
mod welcome;

/// The Rust examples of the README and the docs, compiled by `cargo test --doc`.
#[cfg(doctest)]
mod documentation_examples {
    #[doc = include_str!("../../README.md")]
    struct Readme;
    #[doc = include_str!("../../docs/api.md")]
    struct Api;
    #[doc = include_str!("../../docs/database.md")]
    struct Database;
    #[doc = include_str!("../../docs/deployment.md")]
    struct Deployment;
    #[doc = include_str!("../../docs/errors.md")]
    struct Errors;
    #[doc = include_str!("../../docs/jobs.md")]
    struct Jobs;
    #[doc = include_str!("../../docs/mail.md")]
    struct Mail;
    #[doc = include_str!("../../docs/security.md")]
    struct Security;
}

pub use api_error::ApiError;
pub use app::App;
/// The axum Chopin is built on, so your crate needs no version of its own to match.
pub use axum;
pub use client_ip::ClientIp;
pub use clock::now_rfc3339;
pub use config::{
    Config, CorsOrigins, DatabaseUrl, Environment, JwtSecret, LogFormat, ServerMode, SmtpUrl,
    TrustedProxies, vars,
};
pub use db::Db;
pub use error::Error;
pub use fast_route::{FastRequest, FastResponse, FastRoute};
/// The `http` types of [`axum`] and hyper.
pub use http;
pub use middleware::KeepErrorBody;
pub use project::{Migrations, Project, SeedError};
pub use routes::{Routes, RoutesFuture};
/// The serde of Chopin's JSON; with `#[serde(crate = "chopin_core::serde")]` its derives
/// need no `serde` dependency of your own.
pub use serde;
/// The `serde_json` of [`FastResponse::json`] and Chopin's JSON bodies.
pub use serde_json;
pub use server::Server;
/// The sqlx version Chopin's [`Db`] comes from, for queries and `migrate!`.
pub use sqlx;
pub use state::AppState;
/// The tower of [`App::layer`]'s `Layer` and `Service`.
pub use tower;
/// The utoipa version of Chopin's OpenAPI document, for `#[utoipa::path]` and schemas.
pub use utoipa;
/// Routers that document themselves, for [`App::api_router`].
pub use utoipa_axum;
