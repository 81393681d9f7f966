//! Benchmark baseline: Chopin's database routes as one would write them by hand with
//! axum, a typed `SqlitePool` and jsonwebtoken. `GET /api/auth/me` checks the HS256
//! bearer token, reads the user by id and answers it as JSON; `GET /api/posts/{id}`
//! reads a post of `chopin-basic-api`'s table. It reads the database Chopin created,
//! with the same secret, so the same token works on both.
//!
//! `NO_PING=1` turns off sqlx's ping before lending a connection, as Chopin does on
//! SQLite.
//!
//! Run with: `DATABASE_URL=sqlite:app.db JWT_SECRET=... PORT=3003 cargo run -p bench-auth --release`

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    routing::get,
    serve::ListenerExt,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use sqlx::{SqlitePool, sqlite::SqlitePoolOptions};

#[derive(Clone)]
struct AppState {
    db: SqlitePool,
    key: DecodingKey,
    validation: Validation,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

#[derive(Serialize, sqlx::FromRow)]
struct User {
    id: i64,
    email: String,
    username: String,
    role: String,
    created_at: String,
}

#[derive(Serialize, sqlx::FromRow)]
struct Post {
    id: i64,
    author_id: i64,
    title: String,
    body: String,
    created_at: String,
    updated_at: String,
}

async fn post(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Post>, StatusCode> {
    sqlx::query_as::<_, Post>(
        "SELECT id, author_id, title, body, created_at, updated_at FROM posts WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(&state.db)
    .await
    .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
    .map(Json)
    .ok_or(StatusCode::NOT_FOUND)
}

async fn me(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<User>, StatusCode> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(StatusCode::UNAUTHORIZED)?;
    let claims = jsonwebtoken::decode::<Claims>(token, &state.key, &state.validation)
        .map_err(|_| StatusCode::UNAUTHORIZED)?
        .claims;
    let id: i64 = claims.sub.parse().map_err(|_| StatusCode::UNAUTHORIZED)?;
    sqlx::query_as::<_, User>(
        "SELECT id, email, username, role, created_at FROM chopin_users \
         WHERE id = ? AND deactivated_at IS NULL",
    )
    .bind(id)
    .fetch_optional(&state.db)
    .await
    .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
    .map(Json)
    .ok_or(StatusCode::UNAUTHORIZED)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3003);
    let url = std::env::var("DATABASE_URL")?;
    let secret = std::env::var("JWT_SECRET")?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "iat", "sub"]);
    let state = AppState {
        db: SqlitePoolOptions::new()
            // `NO_PING=1`: the pool setting Chopin uses for SQLite, for comparison.
            .test_before_acquire(std::env::var_os("NO_PING").is_none())
            .connect(&url)
            .await?,
        key: DecodingKey::from_secret(secret.as_bytes()),
        validation,
    };
    let app = Router::new()
        .route("/api/auth/me", get(me))
        .route("/api/posts/{id}", get(post))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await?
        .tap_io(|tcp| {
            // Fails only on a connection already gone, which the server then drops.
            let _ = tcp.set_nodelay(true);
        });
    axum::serve(listener, app).await?;
    Ok(())
}
