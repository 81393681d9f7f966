//! `/api/posts`: posts owned by the users who wrote them.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
};
use chopin_core::{
    ApiError, AppState, Db,
    auth::{AuthUser, Role},
    mail::{Mail, Template},
    now_rfc3339,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

/// Longest title, in characters.
const TITLE_MAX: usize = 200;
/// Longest body, in characters.
const BODY_MAX: usize = 20_000;
/// Page size when `per_page` is absent.
const PER_PAGE_DEFAULT: i64 = 20;
/// Largest page size.
const PER_PAGE_MAX: i64 = 100;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, delete))
}

/// The mail an author gets when their post is published.
struct Published<'a>(&'a Post);

impl Template for Published<'_> {
    fn subject(&self) -> String {
        format!("Published: {}", self.0.title)
    }

    fn text(&self) -> String {
        let Post { id, title, .. } = self.0;
        format!("Your post \"{title}\" is published at /api/posts/{id}.")
    }
}

/// A post as the API returns it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow, PartialEq, Eq)]
pub struct Post {
    #[schema(example = 1)]
    pub id: i64,
    /// The user who wrote it.
    #[schema(example = 1)]
    pub author_id: i64,
    #[schema(example = "Hello")]
    pub title: String,
    #[schema(example = "My first post.")]
    pub body: String,
    /// RFC 3339, UTC.
    #[schema(example = "2026-11-28T10:00:00Z")]
    pub created_at: String,
    /// RFC 3339, UTC.
    #[schema(example = "2026-11-28T10:00:00Z")]
    pub updated_at: String,
}

/// What a client sends to create or replace a post. Both fields are required; they are
/// `Option`s here so that a missing one gets the same `422` naming it as an invalid one.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PostInput {
    /// 1 to 200 characters, no NUL.
    #[schema(value_type = String, required = true, example = "Hello", min_length = 1, max_length = 200, pattern = r"^[^\u0000]*$")]
    pub title: Option<String>,
    /// 1 to 20,000 characters, no NUL.
    #[schema(value_type = String, required = true, example = "My first post.", min_length = 1, max_length = 20000, pattern = r"^[^\u0000]*$")]
    pub body: Option<String>,
}

/// A page of posts, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Page {
    pub items: Vec<Post>,
    /// The page returned, from 1.
    pub page: i64,
    /// The page size used.
    pub per_page: i64,
    /// How many posts there are in all.
    pub total: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Paging {
    /// From 1; 1 when absent.
    #[param(minimum = 1)]
    page: Option<i64>,
    /// From 1 to 100; 20 when absent.
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<i64>,
}

/// The title and body of `input`, trimmed, or a `422` naming each bad field.
fn validated(input: PostInput) -> Result<(String, String), ApiError> {
    fn check(value: Option<String>, max: usize) -> Result<String, String> {
        let value = value.ok_or("is required")?;
        if value.chars().count() > max {
            return Err(format!("must be at most {max} characters"));
        }
        if value.contains('\0') {
            // PostgreSQL's text cannot hold it.
            return Err("must not contain NUL".to_owned());
        }
        if value.is_empty() {
            return Err("must not be empty".to_owned());
        }
        Ok(value)
    }
    let title = check(input.title, TITLE_MAX);
    let body = check(input.body, BODY_MAX);
    match (title, body) {
        (Ok(title), Ok(body)) => Ok((title, body)),
        (title, body) => Err(ApiError::validation(
            [("title", title.err()), ("body", body.err())]
                .into_iter()
                .filter_map(|(field, error)| Some((field, error?))),
        )),
    }
}

async fn find(db: &Db, id: i64) -> Result<Post, ApiError> {
    sqlx::query_as::<_, Post>(
        "SELECT id, author_id, title, body, created_at, updated_at FROM posts WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no post {id}")))
}

/// The post `id` if `user` may change it: its author, or a moderator or admin.
async fn changeable(db: &Db, id: i64, user: &AuthUser) -> Result<Post, ApiError> {
    let post = find(db, id).await?;
    if post.author_id != user.id && user.role < Role::Moderator {
        return Err(ApiError::forbidden(
            "only its author or a moderator may change this post",
        ));
    }
    Ok(post)
}

/// List posts, newest first.
#[utoipa::path(
    get,
    path = "/api/posts",
    tag = "posts",
    params(Paging),
    responses(
        (status = 200, description = "A page of posts", body = Page),
        (status = 400, description = "Malformed query", body = ApiError),
        (status = 422, description = "`page` below 1, or `per_page` outside 1 to 100", body = ApiError),
    )
)]
async fn list(State(db): State<Db>, Query(paging): Query<Paging>) -> Result<Json<Page>, ApiError> {
    let page = paging.page.unwrap_or(1);
    let per_page = paging.per_page.unwrap_or(PER_PAGE_DEFAULT);
    let page_error = (page < 1).then_some(("page", "must be at least 1"));
    let per_page_error =
        (!(1..=PER_PAGE_MAX).contains(&per_page)).then_some(("per_page", "must be from 1 to 100"));
    if page_error.is_some() || per_page_error.is_some() {
        return Err(ApiError::validation(
            page_error.into_iter().chain(per_page_error),
        ));
    }
    // Past the last page is an empty page, however far.
    let offset = (page - 1).saturating_mul(per_page);
    let items = sqlx::query_as::<_, Post>(
        "SELECT id, author_id, title, body, created_at, updated_at FROM posts \
         ORDER BY id DESC LIMIT $1 OFFSET $2",
    )
    .bind(per_page)
    .bind(offset)
    .fetch_all(&db)
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM posts")
        .fetch_one(&db)
        .await?;
    Ok(Json(Page {
        items,
        page,
        per_page,
        total,
    }))
}

/// Write a post, as the signed-in user, who is mailed that it is published.
#[utoipa::path(
    post,
    path = "/api/posts",
    tag = "posts",
    request_body = PostInput,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Post),
        (status = 400, description = "Malformed JSON", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 415, description = "Not `application/json`", body = ApiError),
        (status = 422, description = "Missing or invalid fields", body = ApiError),
    )
)]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(input): Json<PostInput>,
) -> Result<(StatusCode, Json<Post>), ApiError> {
    let (title, body) = validated(input)?;
    let now = now_rfc3339();
    let mut tx = state.db().begin().await?;
    let post = sqlx::query_as::<_, Post>(
        "INSERT INTO posts (author_id, title, body, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4) \
         RETURNING id, author_id, title, body, created_at, updated_at",
    )
    .bind(user.id)
    .bind(title)
    .bind(body)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    // Sent by a worker, and only if the post is stored.
    let mail = Mail::from_template(&user.email, &Published(&post));
    state.mailer().send(mail).on(&mut tx).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(post)))
}

/// Read one post.
#[utoipa::path(
    get,
    path = "/api/posts/{id}",
    tag = "posts",
    params(("id" = i64, Path, description = "The post's id")),
    responses(
        (status = 200, description = "The post", body = Post),
        (status = 400, description = "The id is not a number", body = ApiError),
        (status = 404, description = "No such post", body = ApiError),
    )
)]
async fn read(State(db): State<Db>, Path(id): Path<i64>) -> Result<Json<Post>, ApiError> {
    find(&db, id).await.map(Json)
}

/// Replace a post's title and body: its author, or a moderator or admin.
#[utoipa::path(
    put,
    path = "/api/posts/{id}",
    tag = "posts",
    params(("id" = i64, Path, description = "The post's id")),
    request_body = PostInput,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated post", body = Post),
        (status = 400, description = "Malformed JSON or id", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Someone else's post", body = ApiError),
        (status = 404, description = "No such post", body = ApiError),
        (status = 415, description = "Not `application/json`", body = ApiError),
        (status = 422, description = "Missing or invalid fields", body = ApiError),
    )
)]
async fn update(
    State(db): State<Db>,
    user: AuthUser,
    Path(id): Path<i64>,
    Json(input): Json<PostInput>,
) -> Result<Json<Post>, ApiError> {
    changeable(&db, id, &user).await?;
    let (title, body) = validated(input)?;
    let post = sqlx::query_as::<_, Post>(
        "UPDATE posts SET title = $1, body = $2, updated_at = $3 WHERE id = $4 \
         RETURNING id, author_id, title, body, created_at, updated_at",
    )
    .bind(title)
    .bind(body)
    .bind(now_rfc3339())
    .bind(id)
    .fetch_optional(&db)
    .await?
    // Deleted meanwhile.
    .ok_or_else(|| ApiError::not_found(format!("no post {id}")))?;
    Ok(Json(post))
}

/// Delete a post: its author, or a moderator or admin.
#[utoipa::path(
    delete,
    path = "/api/posts/{id}",
    tag = "posts",
    params(("id" = i64, Path, description = "The post's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a number", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Someone else's post", body = ApiError),
        (status = 404, description = "No such post", body = ApiError),
    )
)]
async fn delete(
    State(db): State<Db>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    changeable(&db, id, &user).await?;
    sqlx::query("DELETE FROM posts WHERE id = $1")
        .bind(id)
        .execute(&db)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
