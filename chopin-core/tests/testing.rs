//! `chopin_core::testing`: a project booted on a fresh database, requests through the
//! whole stack without a socket.

use axum::{Json, extract::State, routing::post};
use chopin_core::{
    ApiError, App, AppState, Error, Migrations, Project,
    auth::{AuthUser, Role},
    http::StatusCode,
    sqlx::{
        SqlSafeStr,
        migrate::{Migration, MigrationType, Migrator},
    },
    testing::TestApp,
};
use serde_json::{Value, json};

static MIGRATIONS: std::sync::LazyLock<Migrations> = std::sync::LazyLock::new(|| {
    let notes = |sql: &'static str| {
        Migrator::with_migrations(vec![Migration::new(
            1,
            "notes".into(),
            MigrationType::Simple,
            sql.into_sql_str(),
            false,
        )])
    };
    Migrations {
        sqlite: notes(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, owner BIGINT NOT NULL, body TEXT NOT NULL)",
        ),
        postgres: notes(
            "CREATE TABLE notes (id BIGSERIAL PRIMARY KEY, owner BIGINT NOT NULL, body TEXT NOT NULL)",
        ),
    }
});

async fn add_note(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let text = body["body"]
        .as_str()
        .ok_or_else(|| ApiError::validation([("body", "is required")]))?;
    let id: i64 = chopin_core::sqlx::query_scalar(
        "INSERT INTO notes (owner, body) VALUES ($1, $2) RETURNING id",
    )
    .bind(user.id)
    .bind(text)
    .fetch_one(state.db())
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "owner": user.id})),
    ))
}

async fn build(app: App) -> Result<App, Error> {
    let routes = axum::Router::new()
        .route("/notes", post(add_note))
        .with_state(app.state().clone());
    Ok(app.router(routes))
}

fn project() -> Project {
    Project::new(build).migrations(&MIGRATIONS)
}

#[tokio::test]
async fn a_project_answers_through_the_whole_stack() -> Result<(), Box<dyn std::error::Error>> {
    let app = TestApp::new(project()).await?;
    let ada = app.user("ada").await?;

    let created = app
        .post("/notes")
        .token(&ada.token)
        .json(&json!({"body": "hi"}))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED, "{}", created.text());
    assert_eq!(created.json()["owner"], ada.id);
    // The stack's headers: request id and security headers.
    assert!(created.header("x-request-id").is_some());
    assert_eq!(created.header("x-content-type-options"), Some("nosniff"));

    let anonymous = app.post("/notes").json(&json!({"body": "hi"})).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.json()["error"], "unauthorized");

    let invalid = app.post("/notes").token(&ada.token).json(&json!({})).await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(invalid.json()["fields"]["body"], "is required");

    let malformed = app
        .post("/notes")
        .token(&ada.token)
        .header("content-type", "application/json")
        .body("{")
        .await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    Ok(())
}

#[tokio::test]
async fn each_test_app_has_a_database_of_its_own() -> Result<(), Box<dyn std::error::Error>> {
    let first = TestApp::new(project()).await?;
    let second = TestApp::new(project()).await?;
    first.user("ada").await?;
    // The same name in the other app is free.
    let ada = second.user_with_role("ada", Role::Admin).await?;
    let me = second.get("/api/auth/me").token(&ada.token).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.json()["role"], "admin");
    // And taken in the first.
    let taken = first.user("ada").await.expect_err("ada exists");
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    Ok(())
}

#[tokio::test]
async fn the_auth_routes_and_the_document_are_there() -> Result<(), Box<dyn std::error::Error>> {
    let app = TestApp::new(project()).await?;
    let signup = app
        .post("/api/auth/signup")
        .json(&json!({"email": "bob@example.com", "username": "bob", "password": "correct horse battery"}))
        .await;
    assert_eq!(signup.status(), StatusCode::CREATED, "{}", signup.text());
    let document = app.get("/api-docs/openapi.json").await;
    assert!(document.json()["paths"]["/api/auth/login"].is_object());
    let health = app.get("/healthz").await;
    assert_eq!(health.json(), json!({"status": "ok"}));
    Ok(())
}
