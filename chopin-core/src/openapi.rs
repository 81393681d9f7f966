//! The OpenAPI 3.1 document of everything Chopin mounts, plus yours, served at
//! `/api-docs/openapi.json` with an interactive page (Swagger UI) at `/api-docs`.
//!
//! The page's assets are compiled into the binary (`utoipa-swagger-ui`'s `vendored`
//! feature), so it renders with no internet access.

use std::borrow::Cow;

use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::{
        self, ContentBuilder, HttpMethod, PathItem, ResponseBuilder, Tag,
        path::OperationBuilder,
        schema::{ObjectBuilder, Type},
        security::{Http, HttpAuthScheme, SecurityScheme},
    },
};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::{api_error::ApiError, auth, fast_route::FastRoute, welcome};

/// Where the page lives; the document is at `{DOCS_PATH}/openapi.json`.
pub(crate) const DOCS_PATH: &str = "/api-docs";
const SPEC_PATH: &str = "/api-docs/openapi.json";
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
    paths(auth::handlers::signup, auth::handlers::login, auth::handlers::me),
    components(schemas(ApiError)),
    modifiers(&BearerAuth),
    tags((name = "auth", description = "Accounts and access tokens"))
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

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut openapi::OpenApi) {
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".to_owned());
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(auth::BEARER, SecurityScheme::Http(scheme));
    }
}

/// Chopin's own document: the auth routes, the error shape, the bearer scheme.
pub(crate) fn document() -> openapi::OpenApi {
    let mut document = ChopinApi::openapi();
    // The derive fills in Chopin's own licence; the application's is not known here.
    document.info.license = None;
    document
}

/// Adds the welcome page (if Chopin answers `/`) and the fast routes, then mounts the
/// page and the document. What you documented yourself for the same paths is kept:
/// Chopin's entries only add the methods you did not document.
pub(crate) fn mount(
    routes: axum::Router,
    mut document: openapi::OpenApi,
    fast_routes: &[FastRoute],
    welcome: bool,
) -> axum::Router {
    let paths = &mut document.paths.paths;
    let mut add = |path: &str, item: PathItem| match paths.get_mut(path) {
        Some(yours) => yours.merge_operations(item),
        None => {
            paths.insert(path.to_owned(), item);
        }
    };
    if welcome {
        add("/", welcome::documentation());
    }
    for route in fast_routes {
        add(route.path(), fast_route_item(route));
    }
    let tags = document.tags.get_or_insert_with(Vec::new);
    tags.push(Tag::new(STATIC_TAG));
    let ui = SwaggerUi::new(DOCS_PATH)
        .url(SPEC_PATH, document)
        // No calls to validator.swagger.io: the page works offline.
        .config(Config::from(SPEC_PATH).validator_url("none"));
    routes.merge(ui)
}

/// `GET` and `HEAD` answering the registered body.
fn fast_route_item(route: &FastRoute) -> PathItem {
    let content_type = route.content_type();
    let media = content_type
        .split(';')
        .next()
        .unwrap_or(content_type)
        .trim();
    let schema = if media == "application/json" {
        ObjectBuilder::new().build()
    } else {
        ObjectBuilder::new().schema_type(Type::String).build()
    };
    let example = route
        .static_body()
        .map(|body| match serde_json::from_slice(body) {
            Ok(value) if media == "application/json" => value,
            _ => serde_json::Value::String(String::from_utf8_lossy(body).into_owned()),
        });
    let (summary, description) = match example {
        Some(_) => ("Static response of", "The registered body"),
        None => (
            "Computed response of",
            "The body the route's handler writes",
        ),
    };
    get_and_head(
        format!("{summary} {}", route.path()),
        description,
        media,
        ContentBuilder::new()
            .schema(Some(schema))
            .example(example)
            .build(),
    )
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
