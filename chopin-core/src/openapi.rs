//! The OpenAPI 3.1 document of everything Chopin mounts, plus yours, served at
//! `/api-docs/openapi.json` with an interactive page (Swagger UI) at `/api-docs`.
//!
//! The page's assets are compiled into the binary (`utoipa-swagger-ui`'s `vendored`
//! feature), so it renders with no internet access.

use std::borrow::Cow;

use utoipa::{
    OpenApi, ToSchema,
    openapi::{self, HttpMethod, PathItem, ResponseBuilder, Tag, path::OperationBuilder},
};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::{
    api_error::ApiError,
    paths::{DOCS_PATH, SPEC_PATH},
};

/// The tag of `/` and the fast routes.
const STATIC_TAG: &str = "static";

/// The error shape every error response has: the schema of [`ApiError`], which
/// serialises through borrowed fields utoipa cannot derive from.
#[derive(ToSchema)]
#[allow(dead_code, reason = "documentation of the shape ApiError serialises")]
struct ErrorResponse {
    /// Stable machine-readable code, e.g. `not_found`, `unprocessable_entity`.
    #[schema(example = "unprocessable_entity")]
    error: String,
    /// For people.
    message: String,
    /// The HTTP status, repeated.
    #[schema(example = 422)]
    status: u16,
    /// One message per invalid field, on `422` validation errors only.
    #[schema(required = false)]
    fields: Option<std::collections::BTreeMap<String, String>>,
    /// The `x-request-id` of this exchange, to find it in the logs.
    #[schema(required = false)]
    request_id: Option<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Chopin application",
        description = "Generated from the code. Errors share one JSON shape (`Error`)."
    ),
    components(schemas(ApiError))
)]
struct ChopinApi;

/// `body = chopin_core::ApiError` documents an error response in `#[utoipa::path]`.
impl utoipa::PartialSchema for ApiError {
    fn schema() -> openapi::RefOr<openapi::schema::Schema> {
        ErrorResponse::schema()
    }
}

impl ToSchema for ApiError {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Error")
    }
}

/// Chopin's own document: the error shape; the batteries add their routes.
pub(crate) fn document() -> openapi::OpenApi {
    let mut document = ChopinApi::openapi();
    // The derive fills in Chopin's own licence; the application's is not known here.
    document.info.license = None;
    document
}

/// `document` with `entries` (the welcome page, the fast routes) added: the document
/// as served. What you documented yourself for the same paths is kept: these entries
/// only add the methods you did not document.
pub(crate) fn complete(
    mut document: openapi::OpenApi,
    entries: impl IntoIterator<Item = (String, PathItem)>,
) -> openapi::OpenApi {
    let paths = &mut document.paths.paths;
    for (path, item) in entries {
        match paths.get_mut(&path) {
            Some(yours) => yours.merge_operations(item),
            None => {
                paths.insert(path, item);
            }
        }
    }
    let tags = document.tags.get_or_insert_with(Vec::new);
    tags.push(Tag::new(STATIC_TAG));
    document
}

/// Mounts the docs page and `document` beside `routes`.
pub(crate) fn mount(routes: axum::Router, document: openapi::OpenApi) -> axum::Router {
    let ui = SwaggerUi::new(DOCS_PATH)
        .url(SPEC_PATH, document)
        // No calls to validator.swagger.io: the page works offline.
        .config(Config::from(SPEC_PATH).validator_url("none"));
    routes.merge(ui)
}

/// A path answering `GET` with `content` and `HEAD` with the same headers, no body, as
/// Chopin's static routes do.
pub(crate) fn get_and_head(
    summary: impl Into<String>,
    description: &str,
    media: &str,
    content: openapi::Content,
) -> PathItem {
    let get = OperationBuilder::new()
        .summary(Some(summary.into()))
        .tag(STATIC_TAG)
        .response(
            "200",
            ResponseBuilder::new()
                .description(description)
                .content(media, content),
        )
        .build();
    let head = OperationBuilder::new()
        .summary(Some("Headers of the GET response, no body"))
        .tag(STATIC_TAG)
        .response("200", ResponseBuilder::new().description("No body"))
        .build();
    let mut item = PathItem::new(HttpMethod::Get, get);
    item.merge_operations(PathItem::new(HttpMethod::Head, head));
    item
}
