//! What projects, resources, fields, jobs and mailers may be called, and the forms a
//! name takes in the generated code (plural, type name, words).

use crate::error::{Error, Result};

/// Longest resource, field, job or mailer name: PostgreSQL cuts identifiers at 63
/// bytes, and the longest one generated is `{plural}_{field}_id_key`.
const MAX_LEN: usize = 24;

/// Rust's keywords, strict, reserved and weak: none can be a module or field name.
const RUST_KEYWORDS: &[&str] = &[
    "abstract",
    "as",
    "async",
    "await",
    "become",
    "box",
    "break",
    "const",
    "continue",
    "crate",
    "do",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "final",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "macro",
    "macro_rules",
    "match",
    "mod",
    "move",
    "mut",
    "override",
    "priv",
    "pub",
    "raw",
    "ref",
    "return",
    "safe",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "union",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "where",
    "while",
    "yield",
];

/// Words PostgreSQL reserves, and those SQLite cannot take as a bare column or table
/// name: the generated SQL does not quote identifiers.
const SQL_RESERVED: &[&str] = &[
    "add",
    "all",
    "alter",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "autoincrement",
    "between",
    "binary",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "collation",
    "column",
    "commit",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "delete",
    "desc",
    "distinct",
    "do",
    "drop",
    "else",
    "end",
    "escape",
    "except",
    "exists",
    "false",
    "fetch",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "glob",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "index",
    "initially",
    "inner",
    "insert",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "match",
    "natural",
    "not",
    "nothing",
    "notnull",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "overlaps",
    "placing",
    "primary",
    "references",
    "regexp",
    "returning",
    "right",
    "select",
    "session_user",
    "set",
    "similar",
    "some",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "transaction",
    "true",
    "union",
    "unique",
    "update",
    "user",
    "using",
    "values",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

/// Columns every generated table has already.
const OWN_COLUMNS: &[&str] = &["id", "user_id", "created_at", "updated_at"];

/// Resource names (singular or plural) taken by Chopin's routes and tables, by the
/// project's layout, or by a type the generated module uses or Chopin's OpenAPI document
/// names (a resource `path` would make a struct `Path`, shadowing axum's).
const RESERVED_RESOURCES: &[&str] = &[
    "accepted",
    "any_row",
    "api",
    "api_error",
    "app_state",
    "auth",
    "auth_user",
    "db",
    "deserialize",
    "email_request",
    "error_response",
    "fields",
    "health",
    "healthy",
    "into_params",
    "jobs",
    "json",
    "login_request",
    "mod",
    "none",
    "ok",
    "open_api_router",
    "option",
    "paging",
    "password_change",
    "password_reset",
    "path",
    "pending_response",
    "query",
    "refresh_request",
    "resources",
    "result",
    "role",
    "row",
    "serialize",
    "signup_request",
    "state",
    "status_code",
    "string",
    "to_schema",
    "token_response",
    "user",
    "users",
    "value",
    "vec",
    "verification",
    "welcome",
];

/// Job and mailer names whose type would shadow one their module uses.
const RESERVED_ITEMS: &[&str] = &[
    "api_error",
    "app_state",
    "deserialize",
    "job",
    "job_error",
    "mail",
    "mod",
    "option",
    "result",
    "serialize",
    "string",
    "template",
    "tests",
    "vec",
];

/// Package names `chopin new` refuses: Rust's own crates and the project's dependencies,
/// whose names its library would shadow.
const RESERVED_CRATES: &[&str] = &[
    "alloc",
    "axum",
    "chopin",
    "chopin_cli",
    "chopin_core",
    "core",
    "proc_macro",
    "serde",
    "serde_json",
    "sqlx",
    "std",
    "test",
    "tokio",
    "tracing",
    "utoipa",
    "utoipa_axum",
];

/// Checks `name` as a snake_case identifier: `[a-z][a-z0-9_]*`, no `__`, no trailing
/// `_`, at most 24 characters. `what` says what it names, for the message.
fn check_snake(what: &str, name: &str) -> Result<()> {
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !starts_well || !rest_ok || name.contains("__") || name.ends_with('_') {
        return Err(Error::new(format!(
            "{what} {name:?} must be snake_case: a lowercase letter, then lowercase letters, \
             digits and single underscores"
        )));
    }
    if name.len() > MAX_LEN {
        return Err(Error::new(format!(
            "{what} {name} is longer than {MAX_LEN} characters"
        )));
    }
    Ok(())
}

/// Why `word` cannot name a Rust item or an SQL identifier, if it cannot.
fn keyword(word: &str) -> Option<&'static str> {
    if RUST_KEYWORDS.contains(&word) {
        Some("a Rust keyword")
    } else if SQL_RESERVED.contains(&word) {
        Some("a reserved word in SQL")
    } else {
        None
    }
}

/// Checks a resource's singular name; its plural is its table, module and path.
pub(crate) fn check_resource(name: &str) -> Result<()> {
    check_snake("resource name", name)?;
    let plural = plural(name);
    for word in [name, plural.as_str()] {
        if let Some(why) = keyword(word) {
            return Err(Error::new(format!("resource name {name}: {word} is {why}")));
        }
        if RESERVED_RESOURCES.contains(&word) || word.starts_with("chopin") {
            return Err(Error::new(format!(
                "resource name {name}: {word} is taken by Chopin or the project's layout"
            )));
        }
    }
    Ok(())
}

/// Checks a field's name (`spec` is the field as written, for the message).
pub(crate) fn check_field(spec: &str, name: &str) -> Result<()> {
    check_snake("field name", name).map_err(|e| Error::new(format!("{spec}: {e}")))?;
    if let Some(why) = keyword(name) {
        return Err(Error::new(format!("{spec}: {name} is {why}")));
    }
    if OWN_COLUMNS.contains(&name) {
        return Err(Error::new(format!(
            "{spec}: every resource has {} already",
            OWN_COLUMNS.join(", ")
        )));
    }
    Ok(())
}

/// Checks a job's or mailer's name (`what`: "job" or "mailer").
pub(crate) fn check_item(what: &str, name: &str) -> Result<()> {
    check_snake(&format!("{what} name"), name)?;
    if RUST_KEYWORDS.contains(&name) {
        return Err(Error::new(format!("{what} name {name} is a Rust keyword")));
    }
    if RESERVED_ITEMS.contains(&name) {
        return Err(Error::new(format!(
            "{what} name {name}: its type would shadow one its module uses"
        )));
    }
    Ok(())
}

/// Checks a migration's name: it only goes into file names.
pub(crate) fn check_migration(name: &str) -> Result<()> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok || name.len() > 64 {
        return Err(Error::new(format!(
            "migration name {name:?} must be snake_case (a lowercase letter, then lowercase \
             letters, digits and underscores), at most 64 characters"
        )));
    }
    Ok(())
}

/// Checks a package name for `chopin new`: `[a-z][a-z0-9_-]*`. Its library's name is
/// [`crate_ident`].
pub(crate) fn check_package(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !ok || name.len() > 64 {
        return Err(Error::new(format!(
            "project name {name:?} must be a crate name: a lowercase letter, then lowercase \
             letters, digits, `_` or `-` (at most 64)"
        )));
    }
    let ident = crate_ident(name);
    if RUST_KEYWORDS.contains(&ident.as_str()) {
        return Err(Error::new(format!("project name {name} is a Rust keyword")));
    }
    if RESERVED_CRATES.contains(&ident.as_str()) {
        return Err(Error::new(format!(
            "project name {name} would shadow the crate {ident} it uses"
        )));
    }
    Ok(())
}

/// The library's name in Rust code: the package name with `-` as `_`.
pub(crate) fn crate_ident(package: &str) -> String {
    package.replace('-', "_")
}

/// The plural of a singular snake_case name, by simple English rules: `y` after a
/// consonant becomes `ies`, `s`, `x`, `z`, `ch` and `sh` take `es`, the rest `s`.
pub(crate) fn plural(singular: &str) -> String {
    if let Some(stem) = singular.strip_suffix('y')
        && stem.ends_with(|c: char| !"aeiou".contains(c))
    {
        return format!("{stem}ies");
    }
    let sibilant = ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|end| singular.ends_with(end));
    if sibilant {
        format!("{singular}es")
    } else {
        format!("{singular}s")
    }
}

/// `book_review` as a type name: `BookReview`.
pub(crate) fn camel(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// `book_review` in a sentence: `book review`.
pub(crate) fn words(snake: &str) -> String {
    snake.replace('_', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals() {
        for (singular, plural_form) in [
            ("book", "books"),
            ("category", "categories"),
            ("day", "days"),
            ("box_item", "box_items"),
            ("status", "statuses"),
            ("tax", "taxes"),
            ("quiz", "quizes"),
            ("match_report", "match_reports"),
            ("batch", "batches"),
            ("wish", "wishes"),
            ("book_review", "book_reviews"),
        ] {
            assert_eq!(plural(singular), plural_form);
        }
    }

    #[test]
    fn type_names() {
        assert_eq!(camel("book"), "Book");
        assert_eq!(camel("book_review2"), "BookReview2");
    }

    #[test]
    fn reserved_names_are_refused() {
        for name in [
            "user",
            "order",
            "group",
            "auth",
            "chopin_thing",
            "job",
            "path",
        ] {
            assert!(check_resource(name).is_err(), "{name}");
        }
        for name in [
            "Book",
            "book-review",
            "_book",
            "book_",
            "book__review",
            "9lives",
        ] {
            assert!(check_resource(name).is_err(), "{name}");
        }
        for name in ["book", "book_review", "note", "category"] {
            assert!(check_resource(name).is_ok(), "{name}");
        }
        for name in ["id", "user_id", "type", "select", "where", "created_at"] {
            assert!(check_field(name, name).is_err(), "{name}");
        }
        assert!(check_package("my-app").is_ok());
        assert!(check_package("sqlx").is_err());
        assert!(check_package("fn").is_err());
        assert!(check_package("My-App").is_err());
    }
}
