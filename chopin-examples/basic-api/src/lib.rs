//! A CRUD API of posts owned by users, on Chopin: `cargo run -p chopin-basic-api`.
//!
//! Sign up or log in under `/api/auth`, then create, list, read, update and delete posts
//! under `/api/posts`. Anyone may read; only a post's author, or a moderator or admin,
//! may change or delete it. Responses are compressed when the client asks (gzip).

mod posts;

use chopin_core::{App, Error, sqlx::migrate::Migrator};
use tower_http::compression::CompressionLayer;
use utoipa_axum::router::OpenApiRouter;

pub use posts::{Page, Post, PostInput};

/// The posts table, one migration set per backend (their SQL differs in the id type).
static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// This example's migrations, documented routes and compression, added to `app`
/// (`App::new()` in `main`, `App::with_config` in the tests).
///
/// # Errors
///
/// A migration that fails.
pub async fn build(app: App) -> Result<App, Error> {
    let migrations = if app.config().database_url.is_postgres() {
        &POSTGRES
    } else {
        &SQLITE
    };
    let app = app.migrate(migrations).await?;
    let routes = OpenApiRouter::new()
        .merge(posts::routes())
        .with_state(app.state().clone());
    Ok(app.api_router(routes).layer(CompressionLayer::new()))
}
