//! `src/resources/{plural}.rs`: a resource's model, input, checks and CRUD handlers,
//! shaped like chopin-examples/basic-api's `posts.rs`. The helpers every resource shares
//! (paging, the id in a path, each field type's check) are in the project's
//! `src/fields.rs` (`templates::fields`), which the module imports from by name.

use super::Text;
use crate::{
    layout::{array, call, call_chain, pad, signature, sql, use_list},
    names::words,
    resource::{Field, Kind, Resource},
};

/// The pattern of a `string` or `text` value: no NUL, which PostgreSQL's text refuses.
const NO_NUL: &str = r#"r"^[^\u0000]*$""#;
/// The pattern of a UUID, as the `uuid` check accepts it.
const UUID_PATTERN: &str =
    r#"r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$""#;
/// rustfmt's `attr_fn_like_width`.
const ATTR_WIDTH: usize = 70;

/// What the module needs, decided once from the fields.
struct Needs {
    /// The model reads its rows by hand (a bool or json field).
    by_hand: bool,
    /// A unique field: a `409` when taken.
    unique: bool,
    /// A reference: a `409` when it names no row.
    references: bool,
    /// An `errors` list in `validated`: a field with a check.
    errors: bool,
    /// A required field, checked by `required`.
    required: bool,
    /// An optional field with a check, checked by `optional`.
    optional: bool,
    /// A required `json` field: `null` is a value, absent is missing.
    present: bool,
    /// An optional `json` field, read by `optional_json_column`.
    optional_json: bool,
    /// An optional `bool` field, read by `optional_bool_column`.
    optional_bool: bool,
    /// The `src/fields.rs` checks of the fields' types.
    checks: Vec<&'static str>,
}

impl Needs {
    fn of(resource: &Resource) -> Self {
        let fields = &resource.fields;
        let required = fields.iter().any(|f| !f.nullable);
        let optional = fields
            .iter()
            .any(|f| f.nullable && f.kind.check().is_some());
        let references = resource.references().next().is_some();
        let mut checks: Vec<&'static str> = fields.iter().filter_map(|f| f.kind.check()).collect();
        checks.sort_unstable();
        checks.dedup();
        Self {
            by_hand: resource.decoded_by_hand(),
            unique: fields.iter().any(|f| f.unique),
            references,
            errors: required || optional,
            required,
            optional,
            present: fields.iter().any(|f| f.kind == Kind::Json && !f.nullable),
            optional_json: fields.iter().any(|f| f.kind == Kind::Json && f.nullable),
            optional_bool: fields.iter().any(|f| f.kind == Kind::Bool && f.nullable),
            checks,
        }
    }

    /// What the module imports from `crate::fields`, in rustfmt's order: uppercase first,
    /// then as the bytes sort (no name is another's prefix but for `optional`).
    fn fields_imports(&self) -> Vec<&'static str> {
        let mut names = vec!["Id", "Paging", "delete_error"];
        let wanted = [
            ("check", self.errors),
            ("required", self.required),
            ("optional", self.optional),
            ("exists", self.references),
            ("present", self.present),
            ("json_column", self.present),
            ("optional_json_column", self.optional_json),
            ("optional_bool_column", self.optional_bool),
        ];
        names.extend(
            wanted
                .iter()
                .filter(|(_, used)| *used)
                .map(|(name, _)| *name),
        );
        names.extend(&self.checks);
        names.sort_unstable();
        names
    }
}

/// The module's source.
pub(crate) fn module(resource: &Resource) -> String {
    let needs = Needs::of(resource);
    let mut out = Text::default();
    out.line(resource.first_line());
    out.line("");
    imports(&mut out, &needs);
    consts(&mut out, resource, &needs);
    out.line("pub(crate) fn routes() -> OpenApiRouter<AppState> {");
    out.line("    OpenApiRouter::new()");
    out.line("        .routes(routes!(list, create))");
    out.line("        .routes(routes!(read, update, delete))");
    out.line("}");
    out.line("");
    model(&mut out, resource, &needs);
    input(&mut out, resource);
    page(&mut out, resource);
    fields(&mut out, resource);
    validated(&mut out, resource, &needs);
    if needs.unique || needs.references {
        conflict(&mut out, &needs);
    }
    lookups(&mut out, resource);
    handlers(&mut out, resource, &needs);
    out.finish()
}

fn imports(out: &mut Text, needs: &Needs) {
    out.line("use axum::{");
    out.line("    Json,");
    out.line("    extract::{Path, Query, State},");
    out.line("    http::StatusCode,");
    out.line("};");
    out.line("use chopin_core::{");
    out.line("    ApiError, AppState, Db,");
    out.line("    auth::{AuthUser, Role},");
    out.line("    now_rfc3339,");
    out.line("};");
    out.line("use serde::{Deserialize, Serialize};");
    if needs.by_hand {
        out.line("use sqlx::{Row, any::AnyRow};");
    }
    out.line("use utoipa::ToSchema;");
    out.line("use utoipa_axum::{router::OpenApiRouter, routes};");
    out.line("");
    let names: Vec<String> = needs
        .fields_imports()
        .into_iter()
        .map(str::to_owned)
        .collect();
    out.raw(use_list("use crate::fields::", &names));
    out.line("");
}

fn consts(out: &mut Text, resource: &Resource, needs: &Needs) {
    let Resource { plural, .. } = resource;
    if needs.unique {
        out.line("/// The table, as errors name it.");
        out.line(format!("const TABLE: &str = \"{plural}\";"));
    }
    let unique: Vec<String> = resource
        .fields
        .iter()
        .filter(|f| f.unique)
        .map(|f| format!("\"{}\"", f.column))
        .collect();
    if !unique.is_empty() {
        out.line(format!(
            "/// The fields no two {} may share: a `409` names the one taken.",
            words(plural)
        ));
        let head = format!("const UNIQUE: [&str; {}] = ", unique.len());
        out.raw(array(0, &head, &unique, ";"));
    }
    let references: Vec<String> = resource
        .references()
        .map(|(f, target)| format!("(\"{}\", \"{}\")", f.column, crate::names::plural(target)))
        .collect();
    if !references.is_empty() {
        out.line("/// Each reference, and the table of the rows it refers to.");
        let head = format!("const REFERENCES: [(&str, &str); {}] = ", references.len());
        out.raw(array(0, &head, &references, ";"));
    }
    if !unique.is_empty() || !references.is_empty() {
        out.line("");
    }
}

/// `#[schema(items)]` at `indent`, as rustfmt leaves it: as written when an item's value
/// is not a literal (rustfmt cannot parse it), else on one line within 70 columns of
/// items, else one item per line.
fn schema_attr(out: &mut Text, indent: usize, items: &[String]) {
    let joined = items.join(", ");
    let literal = |item: &String| {
        let value = item.split_once(" = ").map_or("", |(_, v)| v);
        // Strings, raw strings, numbers, bools.
        value.starts_with(|c: char| c == '"' || c == 'r' || c == '-' || c.is_ascii_digit())
            || value == "true"
            || value == "false"
    };
    let one_line = format!("{}#[schema({joined})]", pad(indent));
    if !items.iter().all(literal) || (joined.len() <= ATTR_WIDTH && one_line.len() <= 100) {
        out.line(one_line);
        return;
    }
    out.line(format!("{}#[schema(", pad(indent)));
    let last = items.len().saturating_sub(1);
    for (i, item) in items.iter().enumerate() {
        let comma = if i == last { "" } else { "," };
        out.line(format!("{}{item}{comma}", pad(indent + 4)));
    }
    out.line(format!("{})]", pad(indent)));
}

fn model(out: &mut Text, resource: &Resource, needs: &Needs) {
    let Resource {
        singular, camel, ..
    } = resource;
    out.line(format!("/// A {} as the API returns it.", words(singular)));
    if needs.by_hand {
        out.line("#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]");
    } else {
        out.line("#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]");
    }
    out.line(format!("pub struct {camel} {{"));
    out.line("    #[schema(example = 1)]");
    out.line("    pub id: i64,");
    out.line("    /// Who created it: they, a moderator or an admin may change or delete it.");
    out.line("    #[schema(example = 1)]");
    out.line("    pub user_id: i64,");
    for field in &resource.fields {
        let example = field.kind.example(&field.column);
        match (field.kind, field.target.as_deref()) {
            (Kind::Timestamp, _) => {
                out.line("    /// RFC 3339.");
                out.line(format!(
                    "    #[schema(format = DateTime, example = {example})]"
                ));
            }
            (Kind::Uuid, _) => {
                out.line(format!(
                    "    #[schema(format = \"uuid\", example = {example})]"
                ));
            }
            (Kind::Json, _) => {
                out.line("    /// Any JSON value.");
                out.line(format!("    #[schema(example = {example})]"));
            }
            (_, Some(target)) => {
                out.line(format!("    /// The {} it belongs to.", words(target)));
                out.line(format!("    #[schema(example = {example})]"));
            }
            _ => out.line(format!("    #[schema(example = {example})]")),
        }
        out.line(format!("    pub {}: {},", field.column, field.rust_type()));
    }
    for column in ["created_at", "updated_at"] {
        out.line("    /// RFC 3339, UTC.");
        out.line("    #[schema(example = \"2026-01-01T00:00:00Z\")]");
        out.line(format!("    pub {column}: String,"));
    }
    out.line("}");
    out.line("");
    if !needs.by_hand {
        return;
    }
    out.line("// sqlx's Any driver decodes neither a bool nor JSON alike on both backends: SQLite");
    out.line(
        "// gives bools back as integers (and the queries read PostgreSQL's as integers too),",
    );
    out.line("// and JSON is stored as text.");
    out.line(format!("impl sqlx::FromRow<'_, AnyRow> for {camel} {{"));
    out.line("    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {");
    out.line("        Ok(Self {");
    out.line("            id: row.try_get(\"id\")?,");
    out.line("            user_id: row.try_get(\"user_id\")?,");
    for field in &resource.fields {
        let c = &field.column;
        let value = match (field.kind, field.nullable) {
            (Kind::Bool, false) => format!("row.try_get::<i32, _>(\"{c}\")? != 0"),
            (Kind::Bool, true) => format!("optional_bool_column(row, \"{c}\")?"),
            (Kind::Json, false) => format!("json_column(row, \"{c}\")?"),
            (Kind::Json, true) => format!("optional_json_column(row, \"{c}\")?"),
            _ => format!("row.try_get(\"{c}\")?"),
        };
        out.line(format!("            {c}: {value},"));
    }
    out.line("            created_at: row.try_get(\"created_at\")?,");
    out.line("            updated_at: row.try_get(\"updated_at\")?,");
    out.line("        })");
    out.line("    }");
    out.line("}");
    out.line("");
}

/// What an input field's doc comment says about its values.
fn input_doc(field: &Field, resource: &Resource) -> String {
    let mut doc = match (field.kind, field.target.as_deref()) {
        (Kind::String, _) => "1 to 255 characters, no NUL.".to_owned(),
        (Kind::Text, _) => "1 to 65,535 characters, no NUL.".to_owned(),
        (Kind::Integer, _) => "A 32-bit integer.".to_owned(),
        (Kind::Bigint, _) => "A 64-bit integer.".to_owned(),
        (Kind::Float, _) => "A number.".to_owned(),
        (Kind::Bool, _) => "`true` or `false`.".to_owned(),
        (Kind::Timestamp, _) => {
            "An RFC 3339 date and time, e.g. `2026-01-01T00:00:00Z`.".to_owned()
        }
        (Kind::Uuid, _) => "A UUID (8-4-4-4-12 hex digits), stored in lowercase.".to_owned(),
        (Kind::Json, _) if field.nullable => "Any JSON value.".to_owned(),
        (Kind::Json, _) => "Any JSON value, `null` included.".to_owned(),
        (_, Some(target)) => format!("The id of a {}.", words(target)),
        (Kind::References, None) => String::new(),
    };
    if field.unique {
        doc += &format!(" No two {} may share it.", words(&resource.plural));
    }
    if field.nullable {
        doc += " Optional: absent or `null` for none.";
    }
    doc
}

fn input(out: &mut Text, resource: &Resource) {
    let Resource {
        singular, camel, ..
    } = resource;
    out.line(format!(
        "/// What a client sends to create or replace a {}. Required fields are `Option`s",
        words(singular)
    ));
    out.line("/// here so that a missing one gets the same `422` naming it as an invalid one.");
    out.line("#[derive(Debug, Deserialize, ToSchema)]");
    out.line(format!("pub struct {camel}Input {{"));
    for field in &resource.fields {
        let doc = input_doc(field, resource);
        // Doc lines wrap at 100 columns, as the rest of the file.
        let mut line = String::from("    ///");
        for word in doc.split(' ') {
            if line.len() + 1 + word.len() > 100 {
                out.line(std::mem::replace(&mut line, String::from("    ///")));
            }
            line.push(' ');
            line.push_str(word);
        }
        out.line(line);
        let mut items = Vec::new();
        let number = field.kind.input() == "serde_json::Number";
        if !field.nullable {
            items.push(format!("value_type = {}", field.kind.schema_type()));
            items.push("required = true".to_owned());
        } else if number {
            items.push(format!("value_type = Option<{}>", field.kind.schema_type()));
        }
        items.push(format!("example = {}", field.kind.example(&field.column)));
        match field.kind {
            Kind::String | Kind::Text => {
                let max = if field.kind == Kind::String {
                    255
                } else {
                    65535
                };
                items.push("min_length = 1".to_owned());
                items.push(format!("max_length = {max}"));
                items.push(format!("pattern = {NO_NUL}"));
            }
            Kind::Timestamp => items.push("format = DateTime".to_owned()),
            Kind::Uuid => {
                items.push("format = \"uuid\"".to_owned());
                items.push(format!("pattern = {UUID_PATTERN}"));
            }
            _ => {}
        }
        if field.kind == Kind::Json && !field.nullable {
            out.line("    #[serde(default, deserialize_with = \"present\")]");
        }
        schema_attr(out, 4, &items);
        out.line(format!(
            "    pub {}: Option<{}>,",
            field.column,
            field.kind.input()
        ));
    }
    out.line("    /// Any other field, ignored. Flattened here, it makes serde read an object only: without");
    out.line("    /// it, an array of the values in order would do too.");
    out.line("    #[serde(flatten)]");
    out.line("    _other: serde_json::Map<String, serde_json::Value>,");
    out.line("}");
    out.line("");
}

fn page(out: &mut Text, resource: &Resource) {
    let Resource { plural, camel, .. } = resource;
    let plural = words(plural);
    out.line(format!("/// A page of {plural}, newest first."));
    out.line("#[derive(Debug, Serialize, Deserialize, ToSchema)]");
    out.line(format!("pub struct {camel}Page {{"));
    out.line(format!("    pub items: Vec<{camel}>,"));
    out.line("    /// The page returned, from 1.");
    out.line("    pub page: i64,");
    out.line("    /// The page size used.");
    out.line("    pub per_page: i64,");
    out.line(format!("    /// How many {plural} there are in all."));
    out.line("    pub total: i64,");
    out.line("}");
    out.line("");
}

fn fields(out: &mut Text, resource: &Resource) {
    out.line(format!(
        "/// A {}'s fields, checked.",
        words(&resource.singular)
    ));
    out.line("struct Fields {");
    for field in &resource.fields {
        out.line(format!("    {}: {},", field.column, field.rust_type()));
    }
    out.line("}");
    out.line("");
}

/// The expression that gives a field's checked value in `validated`.
fn checked(field: &Field) -> Option<Vec<String>> {
    let c = &field.column;
    let value = match (field.nullable, field.kind.check()) {
        (false, check) => format!("required(input.{c}, {})", check.unwrap_or("Ok")),
        (true, Some(check)) => format!("optional(input.{c}, {check})"),
        (true, None) => return None,
    };
    Some(vec!["&mut errors".to_owned(), format!("\"{c}\""), value])
}

fn validated(out: &mut Text, resource: &Resource, needs: &Needs) {
    let Resource { camel, .. } = resource;
    out.line("/// The fields of `input`, checked, or a `422` naming each bad one.");
    if needs.references {
        out.line("/// A reference to no row is a `409` naming it.");
        out.raw(signature(
            0,
            "async fn validated",
            &["db: &Db".to_owned(), format!("input: {camel}Input")],
            Some("Result<Fields, ApiError>"),
        ));
    } else {
        out.raw(signature(
            0,
            "fn validated",
            &[format!("input: {camel}Input")],
            Some("Result<Fields, ApiError>"),
        ));
    }
    if needs.errors {
        out.line("    let mut errors = Vec::new();");
    }
    let inits: Vec<(String, Option<Vec<String>>)> = resource
        .fields
        .iter()
        .map(|f| (f.column.clone(), checked(f)))
        .collect();
    let simple: Vec<String> = inits
        .iter()
        .filter(|(_, args)| args.is_none())
        .map(|(c, _)| format!("{c}: input.{c}"))
        .collect();
    // rustfmt's `struct_lit_width`: a literal whose fields take 18 columns or less stays on
    // one line.
    let head = if needs.errors { "let fields = " } else { "Ok(" };
    let tail = if needs.errors { ";" } else { ")" };
    if simple.len() == inits.len() && simple.join(", ").len() <= 18 {
        out.line(format!(
            "    {head}Fields {{ {} }}{tail}",
            simple.join(", ")
        ));
    } else {
        out.line(format!("    {head}Fields {{"));
        for (column, args) in &inits {
            match args {
                Some(args) => out.raw(call(8, &format!("{column}: check"), args, ",")),
                None => out.line(format!("        {column}: input.{column},")),
            }
        }
        out.line(format!("    }}{tail}"));
    }
    if !needs.errors {
        out.line("}");
        out.line("");
        return;
    }
    if needs.references {
        out.line("    if !errors.is_empty() {");
        out.line("        return Err(ApiError::validation(errors));");
        out.line("    }");
        let ids: Vec<String> = resource
            .references()
            .map(|(f, _)| match f.nullable {
                true => format!("fields.{}", f.column),
                false => format!("Some(fields.{})", f.column),
            })
            .collect();
        out.raw(array(4, "let ids = ", &ids, ";"));
        out.line(
            "    // A `409`, as for the foreign key it stands for: the request is well formed, but",
        );
        out.line("    // conflicts with the rows there are.");
        out.line("    let mut missing = Vec::new();");
        out.line("    for ((field, table), id) in REFERENCES.into_iter().zip(ids) {");
        out.line("        if let Some(id) = id");
        out.line("            && !exists(db, table, id).await?");
        out.line("        {");
        out.line("            missing.push(format!(\"{field}: no row {id} in {table}\"));");
        out.line("        }");
        out.line("    }");
        out.line("    if missing.is_empty() {");
        out.line("        Ok(fields)");
        out.line("    } else {");
        out.line("        Err(ApiError::conflict(missing.join(\"; \")))");
        out.line("    }");
        out.line("}");
        out.line("");
        return;
    }
    out.line("    if errors.is_empty() {");
    out.line("        Ok(fields)");
    out.line("    } else {");
    out.line("        Err(ApiError::validation(errors))");
    out.line("    }");
    out.line("}");
    out.line("");
}

fn conflict(out: &mut Text, needs: &Needs) {
    match (needs.unique, needs.references) {
        (true, true) => {
            out.line("/// A failed write as the client should see it: a `409` naming the unique field another");
            out.line("/// row has, a `409` naming the references if a row they refer to was deleted meanwhile,");
            out.line("/// or the database error as it is.");
        }
        (true, false) => {
            out.line("/// A failed write as the client should see it: a `409` naming the unique field another");
            out.line("/// row has, or the database error as it is.");
        }
        _ => {
            out.line("/// A failed write as the client should see it: a `409` naming the references if a row");
            out.line("/// they refer to was deleted meanwhile, or the database error as it is.");
        }
    }
    out.line("fn conflict(error: sqlx::Error) -> ApiError {");
    out.line("    match &error {");
    if needs.unique {
        out.line("        sqlx::Error::Database(e) if e.is_unique_violation() => {");
        out.line("            // PostgreSQL names the constraint (`{TABLE}_{field}_key`), SQLite the column");
        out.line("            // (`{TABLE}.{field}`).");
        out.line("            let taken = UNIQUE.into_iter().find(|field| {");
        out.line(
            "                e.constraint() == Some(format!(\"{TABLE}_{field}_key\").as_str())",
        );
        out.line("                    || e.message().ends_with(&format!(\" {TABLE}.{field}\"))");
        out.line("            });");
        out.line("            match taken {");
        out.line("                Some(field) => ApiError::conflict(format!(\"another row has this {field}\")),");
        out.line("                None => error.into(),");
        out.line("            }");
        out.line("        }");
    }
    if needs.references {
        out.line("        sqlx::Error::Database(e) if e.is_foreign_key_violation() => {");
        out.line("            let fields = REFERENCES.map(|(field, _)| field).join(\", \");");
        out.line(
            "            ApiError::conflict(format!(\"{fields}: a row it refers to was deleted\"))",
        );
        out.line("        }");
    }
    out.line("        _ => error.into(),");
    out.line("    }");
    out.line("}");
    out.line("");
}

/// The `SELECT` list of every query, in the model's order.
fn columns(resource: &Resource) -> String {
    let mut columns = vec!["id".to_owned(), "user_id".to_owned()];
    columns.extend(resource.fields.iter().map(Field::select));
    columns.extend(["created_at".to_owned(), "updated_at".to_owned()]);
    columns.join(", ")
}

fn lookups(out: &mut Text, resource: &Resource) {
    let Resource {
        singular,
        plural,
        camel,
        ..
    } = resource;
    let what = words(singular);
    let columns = columns(resource);
    out.line(format!("/// The {what} `id`, or a `404`."));
    out.raw(signature(
        0,
        "async fn find",
        &["db: &Db".to_owned(), "id: i64".to_owned()],
        Some(&format!("Result<{camel}, ApiError>")),
    ));
    let query = sql(
        8,
        &[
            format!("SELECT {columns}"),
            format!("FROM {plural} WHERE id = $1"),
        ],
    );
    out.raw(call_chain(
        4,
        "",
        &format!("sqlx::query_as::<_, {camel}>"),
        &[query],
        &[
            "bind(id)".to_owned(),
            "fetch_optional(db)".to_owned(),
            "await?".to_owned(),
            format!("ok_or_else(|| ApiError::not_found(format!(\"no {what} {{id}}\")))"),
        ],
        "",
    ));
    out.line("}");
    out.line("");
    out.line(format!(
        "/// The {what} `id` if `user` may change it: its owner, or a moderator or admin."
    ));
    out.raw(signature(
        0,
        "async fn changeable",
        &[
            "db: &Db".to_owned(),
            "id: i64".to_owned(),
            "user: &AuthUser".to_owned(),
        ],
        Some(&format!("Result<{camel}, ApiError>")),
    ));
    out.line("    let row = find(db, id).await?;");
    out.line("    if row.user_id != user.id && user.role < Role::Moderator {");
    out.line("        return Err(ApiError::forbidden(");
    out.line("            \"only its owner or a moderator may change it\",");
    out.line("        ));");
    out.line("    }");
    out.line("    Ok(row)");
    out.line("}");
    out.line("");
}

fn handlers(out: &mut Text, resource: &Resource, needs: &Needs) {
    let Resource {
        singular,
        plural,
        camel,
        ..
    } = resource;
    let what = words(singular);
    let whats = words(plural);
    let columns = columns(resource);
    let path = format!("/api/{plural}");
    let conflict_doc = {
        let unique: Vec<String> = resource
            .fields
            .iter()
            .filter(|f| f.unique)
            .map(|f| format!("`{}`", f.column))
            .collect();
        let description = match (needs.unique, needs.references) {
            (true, true) => format!(
                "Another {what} has this {}, or a reference names no row",
                unique.join(" or ")
            ),
            (true, false) => format!("Another {what} has this {}", unique.join(" or ")),
            _ => "A reference names no row".to_owned(),
        };
        format!("        (status = 409, description = \"{description}\", body = ApiError),")
    };
    let map_conflict = needs.unique || needs.references;
    let validated_call = if needs.references {
        "validated(&db, input).await?"
    } else {
        "validated(input)?"
    };

    // list
    out.line(format!("/// List {whats}, newest first."));
    out.line("#[utoipa::path(");
    out.line("    get,");
    out.line(format!("    path = \"{path}\","));
    out.line(format!("    tag = \"{plural}\","));
    out.line("    params(Paging),");
    out.line("    responses(");
    out.line(format!(
        "        (status = 200, description = \"A page of {whats}\", body = {camel}Page),"
    ));
    out.line("        (status = 400, description = \"Malformed query\", body = ApiError),");
    out.line("        (status = 422, description = \"`page` below 1, or `per_page` outside 1 to 100\", body = ApiError),");
    out.line("    )");
    out.line(")]");
    out.raw(signature(
        0,
        "async fn list",
        &[
            "State(db): State<Db>".to_owned(),
            "Query(paging): Query<Paging>".to_owned(),
        ],
        Some(&format!("Result<Json<{camel}Page>, ApiError>")),
    ));
    out.line("    let (page, per_page, offset) = paging.checked()?;");
    let query = sql(
        8,
        &[
            format!("SELECT {columns}"),
            format!("FROM {plural} ORDER BY id DESC LIMIT $1 OFFSET $2"),
        ],
    );
    out.raw(call_chain(
        4,
        "let items = ",
        &format!("sqlx::query_as::<_, {camel}>"),
        &[query],
        &[
            "bind(per_page)".to_owned(),
            "bind(offset)".to_owned(),
            "fetch_all(&db)".to_owned(),
            "await?".to_owned(),
        ],
        ";",
    ));
    out.raw(call_chain(
        4,
        "let total: i64 = ",
        "sqlx::query_scalar",
        &[format!("\"SELECT COUNT(*) FROM {plural}\"")],
        &["fetch_one(&db)".to_owned(), "await?".to_owned()],
        ";",
    ));
    out.line(format!("    Ok(Json({camel}Page {{"));
    out.line("        items,");
    out.line("        page,");
    out.line("        per_page,");
    out.line("        total,");
    out.line("    }))");
    out.line("}");
    out.line("");

    // create
    out.line(format!("/// Create a {what}, owned by the signed-in user."));
    out.line("#[utoipa::path(");
    out.line("    post,");
    out.line(format!("    path = \"{path}\","));
    out.line(format!("    tag = \"{plural}\","));
    out.line(format!("    request_body = {camel}Input,"));
    out.line("    security((\"bearer\" = [])),");
    out.line("    responses(");
    out.line(format!(
        "        (status = 201, description = \"Created\", body = {camel}),"
    ));
    out.line("        (status = 400, description = \"Malformed JSON\", body = ApiError),");
    out.line("        (status = 401, description = \"Not signed in\", body = ApiError),");
    if needs.unique || needs.references {
        out.line(&conflict_doc);
    }
    out.line("        (status = 415, description = \"Not `application/json`\", body = ApiError),");
    out.line(
        "        (status = 422, description = \"Missing or invalid fields\", body = ApiError),",
    );
    out.line("    )");
    out.line(")]");
    out.line("async fn create(");
    out.line("    State(db): State<Db>,");
    out.line("    user: AuthUser,");
    out.line(format!("    Json(input): Json<{camel}Input>,"));
    out.line(format!(
        ") -> Result<(StatusCode, Json<{camel}>), ApiError> {{"
    ));
    out.line(format!("    let fields = {validated_call};"));
    let n = resource.fields.len();
    let mut names = vec!["user_id".to_owned()];
    names.extend(resource.fields.iter().map(|f| f.column.clone()));
    names.extend(["created_at".to_owned(), "updated_at".to_owned()]);
    let mut values: Vec<String> = (1..=n + 2).map(|i| format!("${i}")).collect();
    values.push(format!("${}", n + 2));
    let query = sql(
        8,
        &[
            format!("INSERT INTO {plural} ({})", names.join(", ")),
            format!("VALUES ({})", values.join(", ")),
            format!("RETURNING {columns}"),
        ],
    );
    let mut calls = vec!["bind(user.id)".to_owned()];
    calls.extend(resource.fields.iter().map(bind));
    calls.push("bind(now_rfc3339())".to_owned());
    calls.push("fetch_one(&db)".to_owned());
    if map_conflict {
        calls.push("await".to_owned());
        calls.push("map_err(conflict)?".to_owned());
    } else {
        calls.push("await?".to_owned());
    }
    out.raw(call_chain(
        4,
        "let created = ",
        &format!("sqlx::query_as::<_, {camel}>"),
        &[query],
        &calls,
        ";",
    ));
    out.line("    Ok((StatusCode::CREATED, Json(created)))");
    out.line("}");
    out.line("");

    // read
    out.line(format!("/// Read one {what}."));
    out.line("#[utoipa::path(");
    out.line("    get,");
    out.line(format!("    path = \"{path}/{{id}}\","));
    out.line(format!("    tag = \"{plural}\","));
    out.line(format!(
        "    params((\"id\" = i64, Path, description = \"The {what}'s id\")),"
    ));
    out.line("    responses(");
    out.line(format!(
        "        (status = 200, description = \"The {what}\", body = {camel}),"
    ));
    out.line("        (status = 400, description = \"The id is not a number\", body = ApiError),");
    out.line(format!(
        "        (status = 404, description = \"No such {what}\", body = ApiError),"
    ));
    out.line("    )");
    out.line(")]");
    out.raw(signature(
        0,
        "async fn read",
        &[
            "State(db): State<Db>".to_owned(),
            "Path(Id(id)): Path<Id>".to_owned(),
        ],
        Some(&format!("Result<Json<{camel}>, ApiError>")),
    ));
    out.line("    find(&db, id).await.map(Json)");
    out.line("}");
    out.line("");

    // update
    out.line(format!(
        "/// Replace a {what}'s fields: its owner, or a moderator or admin."
    ));
    out.line("#[utoipa::path(");
    out.line("    put,");
    out.line(format!("    path = \"{path}/{{id}}\","));
    out.line(format!("    tag = \"{plural}\","));
    out.line(format!(
        "    params((\"id\" = i64, Path, description = \"The {what}'s id\")),"
    ));
    out.line(format!("    request_body = {camel}Input,"));
    out.line("    security((\"bearer\" = [])),");
    out.line("    responses(");
    out.line(format!(
        "        (status = 200, description = \"The updated {what}\", body = {camel}),"
    ));
    out.line("        (status = 400, description = \"Malformed JSON or id\", body = ApiError),");
    out.line("        (status = 401, description = \"Not signed in\", body = ApiError),");
    out.line(format!(
        "        (status = 403, description = \"Someone else's {what}\", body = ApiError),"
    ));
    out.line(format!(
        "        (status = 404, description = \"No such {what}\", body = ApiError),"
    ));
    if needs.unique || needs.references {
        out.line(&conflict_doc);
    }
    out.line("        (status = 415, description = \"Not `application/json`\", body = ApiError),");
    out.line(
        "        (status = 422, description = \"Missing or invalid fields\", body = ApiError),",
    );
    out.line("    )");
    out.line(")]");
    out.line("async fn update(");
    out.line("    State(db): State<Db>,");
    out.line("    user: AuthUser,");
    out.line("    Path(Id(id)): Path<Id>,");
    out.line(format!("    Json(input): Json<{camel}Input>,"));
    out.line(format!(") -> Result<Json<{camel}>, ApiError> {{"));
    out.line("    changeable(&db, id, &user).await?;");
    out.line(format!("    let fields = {validated_call};"));
    let sets: Vec<String> = resource
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| format!("{} = ${}", f.column, i + 1))
        .chain([format!("updated_at = ${}", n + 1)])
        .collect();
    let query = sql(
        8,
        &[
            format!("UPDATE {plural} SET {}", sets.join(", ")),
            format!("WHERE id = ${}", n + 2),
            format!("RETURNING {columns}"),
        ],
    );
    let mut calls: Vec<String> = resource.fields.iter().map(bind).collect();
    calls.push("bind(now_rfc3339())".to_owned());
    calls.push("bind(id)".to_owned());
    calls.push("fetch_optional(&db)".to_owned());
    if map_conflict {
        calls.push("await".to_owned());
        calls.push("map_err(conflict)?".to_owned());
    } else {
        calls.push("await?".to_owned());
    }
    calls.push("// Deleted meanwhile.".to_owned());
    calls.push(format!(
        "ok_or_else(|| ApiError::not_found(format!(\"no {what} {{id}}\")))?"
    ));
    out.raw(call_chain(
        4,
        "let updated = ",
        &format!("sqlx::query_as::<_, {camel}>"),
        &[query],
        &calls,
        ";",
    ));
    out.line("    Ok(Json(updated))");
    out.line("}");
    out.line("");

    // delete
    out.line(format!(
        "/// Delete a {what}: its owner, or a moderator or admin."
    ));
    out.line("#[utoipa::path(");
    out.line("    delete,");
    out.line(format!("    path = \"{path}/{{id}}\","));
    out.line(format!("    tag = \"{plural}\","));
    out.line(format!(
        "    params((\"id\" = i64, Path, description = \"The {what}'s id\")),"
    ));
    out.line("    security((\"bearer\" = [])),");
    out.line("    responses(");
    out.line("        (status = 204, description = \"Deleted\"),");
    out.line("        (status = 400, description = \"The id is not a number\", body = ApiError),");
    out.line("        (status = 401, description = \"Not signed in\", body = ApiError),");
    out.line(format!(
        "        (status = 403, description = \"Someone else's {what}\", body = ApiError),"
    ));
    out.line(format!(
        "        (status = 404, description = \"No such {what}\", body = ApiError),"
    ));
    out.line("        (status = 409, description = \"Other rows refer to it\", body = ApiError),");
    out.line("    )");
    out.line(")]");
    out.line("async fn delete(");
    out.line("    State(db): State<Db>,");
    out.line("    user: AuthUser,");
    out.line("    Path(Id(id)): Path<Id>,");
    out.line(") -> Result<StatusCode, ApiError> {");
    out.line("    changeable(&db, id, &user).await?;");
    out.raw(call_chain(
        4,
        "",
        "sqlx::query",
        &[format!("\"DELETE FROM {plural} WHERE id = $1\"")],
        &[
            "bind(id)".to_owned(),
            "execute(&db)".to_owned(),
            "await".to_owned(),
            "map_err(delete_error)?".to_owned(),
        ],
        ";",
    ));
    out.line("    Ok(StatusCode::NO_CONTENT)");
    out.line("}");
}

/// The `.bind(...)` of a field's checked value.
fn bind(field: &Field) -> String {
    let c = &field.column;
    match (field.kind, field.nullable) {
        (Kind::Json, false) => format!("bind(fields.{c}.to_string())"),
        (Kind::Json, true) => format!("bind(fields.{c}.map(|value| value.to_string()))"),
        _ => format!("bind(fields.{c})"),
    }
}
