//! A resource as `chopin generate resource` is told it (`book title:string:unique
//! pages:integer?`): its names and its fields, and what each field type becomes in SQL,
//! in Rust and in the API.

use crate::{
    error::{Error, Result},
    names,
};

/// The field types, as the message for an unknown one lists them.
const TYPES: &str = "string, text, integer, bigint, float, bool, timestamp, uuid, json, references";

/// A field's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Up to 255 characters.
    String,
    /// Up to 65,535 characters.
    Text,
    /// 32 bits: PostgreSQL `INTEGER`, which the Any driver reads as `i32`.
    Integer,
    /// 64 bits.
    Bigint,
    /// A double.
    Float,
    Bool,
    /// RFC 3339 text: the Any driver cannot read PostgreSQL's `timestamptz`.
    Timestamp,
    /// Text, in lowercase: neither backend's UUID type passes through the Any driver.
    Uuid,
    /// Any JSON value, stored as its text: the Any driver has no JSON type.
    Json,
    /// The id of a row of another resource.
    References,
}

impl Kind {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "string" => Self::String,
            "text" => Self::Text,
            "integer" => Self::Integer,
            "bigint" => Self::Bigint,
            "float" => Self::Float,
            "bool" => Self::Bool,
            "timestamp" => Self::Timestamp,
            "uuid" => Self::Uuid,
            "json" => Self::Json,
            "references" => Self::References,
            _ => return None,
        })
    }

    /// The column type in SQLite: only declared types that sqlx's SQLite driver maps to
    /// one the Any driver knows (integers, REAL, TEXT). A `BOOLEAN` column fails every
    /// query that reads it (`Any driver does not support the SQLite type Bool`), so bools
    /// are 0 or 1 in an INTEGER.
    pub(crate) fn sqlite(self) -> &'static str {
        match self {
            Self::Integer | Self::Bool => "INTEGER",
            Self::Bigint | Self::References => "BIGINT",
            Self::Float => "REAL",
            Self::String | Self::Text | Self::Timestamp | Self::Uuid | Self::Json => "TEXT",
        }
    }

    /// The column type in PostgreSQL.
    pub(crate) fn postgres(self) -> &'static str {
        match self {
            Self::Integer => "INTEGER",
            Self::Bigint | Self::References => "BIGINT",
            Self::Float => "DOUBLE PRECISION",
            Self::Bool => "BOOLEAN",
            Self::String | Self::Text | Self::Timestamp | Self::Uuid | Self::Json => "TEXT",
        }
    }

    /// The Rust type of the field in the model and the input.
    pub(crate) fn rust(self) -> &'static str {
        match self {
            Self::Integer => "i32",
            Self::Bigint | Self::References => "i64",
            Self::Float => "f64",
            Self::Bool => "bool",
            Self::String | Self::Text | Self::Timestamp | Self::Uuid => "String",
            Self::Json => "serde_json::Value",
        }
    }

    /// The type utoipa is told for an input field declared `Option<T>` but required.
    pub(crate) fn schema_type(self) -> &'static str {
        match self {
            Self::Json => "Value",
            other => other.rust(),
        }
    }

    /// The type of the field in the input: integers arrive as any JSON number, since JSON
    /// Schema counts `2.0` as an integer and serde's integers refuse it.
    pub(crate) fn input(self) -> &'static str {
        match self {
            Self::Integer | Self::Bigint | Self::References => "serde_json::Number",
            other => other.rust(),
        }
    }

    /// The function of the project's `src/fields.rs` that checks a value of this type, if
    /// any.
    pub(crate) fn check(self) -> Option<&'static str> {
        match self {
            Self::String => Some("string"),
            Self::Text => Some("text"),
            Self::Integer => Some("integer"),
            Self::Bigint | Self::References => Some("bigint"),
            Self::Timestamp => Some("timestamp"),
            Self::Uuid => Some("uuid"),
            Self::Float | Self::Bool | Self::Json => None,
        }
    }

    /// Whether the Any driver cannot decode the column to the Rust type as it is, so the
    /// model reads its rows by hand: bools come back as integers from SQLite, JSON as
    /// text.
    pub(crate) fn decoded_by_hand(self) -> bool {
        matches!(self, Self::Bool | Self::Json)
    }

    /// An example value in `#[schema(example = ...)]`.
    pub(crate) fn example(self, field: &str) -> String {
        match self {
            Self::String | Self::Text => format!("\"{field} 1\""),
            Self::Integer | Self::Bigint | Self::References => "1".to_owned(),
            Self::Float => "1.5".to_owned(),
            Self::Bool => "true".to_owned(),
            Self::Timestamp => "\"2026-01-01T00:00:00Z\"".to_owned(),
            Self::Uuid => "\"00000000-0000-4000-8000-000000000001\"".to_owned(),
            Self::Json => "json!({\"n\": 1})".to_owned(),
        }
    }

    /// A test's value for a new row, made from its number `n` so that unique fields
    /// differ between rows, as an expression inside `json!`. References are handled by
    /// the caller.
    pub(crate) fn test_value(self, field: &str) -> String {
        match self {
            Self::String | Self::Text => format!("format!(\"{field} {{n}}\")"),
            Self::Integer | Self::Bigint | Self::References => "n".to_owned(),
            Self::Float => "n as f64 + 0.5".to_owned(),
            Self::Bool => "n % 2 == 0".to_owned(),
            Self::Timestamp => {
                "format!(\"2026-01-01T00:{:02}:{:02}Z\", n / 60 % 60, n % 60)".to_owned()
            }
            Self::Uuid => "format!(\"00000000-0000-4000-8000-{n:012}\")".to_owned(),
            Self::Json => "{\"n\": n}".to_owned(),
        }
    }
}

/// One field of a resource.
#[derive(Clone, Debug)]
pub(crate) struct Field {
    /// As written: `title:string:unique`.
    pub(crate) spec: String,
    /// The column, JSON key and Rust field: the name as written, or `{name}_id` for a
    /// reference.
    pub(crate) column: String,
    /// For a reference, the singular name of the resource it refers to.
    pub(crate) target: Option<String>,
    pub(crate) kind: Kind,
    /// `?`: may be absent or `null`; the column allows NULL.
    pub(crate) nullable: bool,
    /// `:unique`: no two rows may share a value.
    pub(crate) unique: bool,
}

impl Field {
    /// Parses `name:type[?][:unique]`; the errors name `spec`.
    pub(crate) fn parse(spec: &str) -> Result<Self> {
        let mut parts = spec.split(':');
        let name = parts.next().unwrap_or_default();
        let Some(kind) = parts.next() else {
            return Err(Error::new(format!(
                "{spec}: no type: write name:type, with a type among {TYPES}"
            )));
        };
        let (kind, nullable) = match kind.strip_suffix('?') {
            Some(kind) => (kind, true),
            None => (kind, false),
        };
        let unique = match parts.next() {
            None => false,
            Some("unique") => true,
            Some(other) => {
                return Err(Error::new(format!(
                    "{spec}: unknown option {other} (the only one is unique)"
                )));
            }
        };
        if parts.next().is_some() {
            return Err(Error::new(format!(
                "{spec}: too many parts: write name:type[?][:unique]"
            )));
        }
        let Some(kind) = Kind::parse(kind) else {
            return Err(Error::new(format!("{spec}: unknown type {kind} ({TYPES})")));
        };
        names::check_field(spec, name)?;
        if unique && matches!(kind, Kind::Bool | Kind::Json) {
            return Err(Error::new(format!(
                "{spec}: a {} field cannot be unique",
                if kind == Kind::Bool { "bool" } else { "json" }
            )));
        }
        let (column, target) = if kind == Kind::References {
            (format!("{name}_id"), Some(name.to_owned()))
        } else {
            (name.to_owned(), None)
        };
        Ok(Self {
            spec: spec.to_owned(),
            column,
            target,
            kind,
            nullable,
            unique,
        })
    }

    /// The Rust type of the model's field.
    pub(crate) fn rust_type(&self) -> String {
        if self.nullable {
            format!("Option<{}>", self.kind.rust())
        } else {
            self.kind.rust().to_owned()
        }
    }

    /// The field in a `SELECT` list: bools are read as integers, which both backends
    /// give the Any driver alike.
    pub(crate) fn select(&self) -> String {
        if self.kind == Kind::Bool {
            format!("CAST({0} AS INTEGER) AS {0}", self.column)
        } else {
            self.column.clone()
        }
    }
}

/// A resource: its names and fields.
#[derive(Clone, Debug)]
pub(crate) struct Resource {
    /// `book_review`: the `chopin generate resource` argument.
    pub(crate) singular: String,
    /// `book_reviews`: the table, the module, the path (`/api/book_reviews`) and the tag.
    pub(crate) plural: String,
    /// `BookReview`: the model's type.
    pub(crate) camel: String,
    pub(crate) fields: Vec<Field>,
}

impl Resource {
    /// The resource `name` with fields `specs`, checked (names, types, duplicates); the
    /// resources its references name are the caller's to check.
    pub(crate) fn parse(name: &str, specs: &[String]) -> Result<Self> {
        names::check_resource(name)?;
        if specs.is_empty() {
            return Err(Error::new(format!(
                "no fields: give at least one, e.g. chopin generate resource {name} title:string"
            )));
        }
        let mut fields: Vec<Field> = Vec::new();
        for spec in specs {
            let field = Field::parse(spec)?;
            if let Some(other) = fields.iter().find(|f| f.column == field.column) {
                return Err(Error::new(format!(
                    "{spec}: duplicate field {} (also {})",
                    field.column, other.spec
                )));
            }
            fields.push(field);
        }
        Ok(Self {
            singular: name.to_owned(),
            plural: names::plural(name),
            camel: names::camel(name),
            fields,
        })
    }

    /// The command that generates it, as its module's first line records it.
    pub(crate) fn command(&self) -> String {
        let specs: Vec<&str> = self.fields.iter().map(|f| f.spec.as_str()).collect();
        format!(
            "chopin generate resource {} {}",
            self.singular,
            specs.join(" ")
        )
    }

    /// The module's first line, which [`Resource::from_first_line`] reads back.
    pub(crate) fn first_line(&self) -> String {
        format!(
            "//! `/api/{}`: generated by `{}`.",
            self.plural,
            self.command()
        )
    }

    /// The name and field specs a generated module's first line records, if `line` is
    /// one.
    pub(crate) fn from_first_line(line: &str) -> Option<(String, Vec<String>)> {
        let command = line
            .split_once("generated by `chopin generate resource ")?
            .1
            .strip_suffix("`.")?;
        let mut words = command.split_whitespace().map(str::to_owned);
        let name = words.next()?;
        Some((name, words.collect()))
    }

    /// The fields that are references, with the resource each refers to.
    pub(crate) fn references(&self) -> impl Iterator<Item = (&Field, &str)> {
        self.fields
            .iter()
            .filter_map(|f| f.target.as_deref().map(|target| (f, target)))
    }

    /// Whether the model reads its rows by hand (see [`Kind::decoded_by_hand`]).
    pub(crate) fn decoded_by_hand(&self) -> bool {
        self.fields.iter().any(|f| f.kind.decoded_by_hand())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(specs: &[&str]) -> Vec<String> {
        specs.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn fields_parse() -> Result<()> {
        let field = Field::parse("title:string:unique")?;
        assert_eq!(
            (field.kind, field.nullable, field.unique),
            (Kind::String, false, true)
        );
        let field = Field::parse("book:references?")?;
        assert_eq!(field.column, "book_id");
        assert_eq!(field.target.as_deref(), Some("book"));
        assert!(field.nullable);
        Ok(())
    }

    #[test]
    fn bad_fields_are_refused() {
        for (spec, message) in [
            (
                "rating:integr",
                "rating:integr: unknown type integr (string, text, integer, bigint, float, \
                 bool, timestamp, uuid, json, references)",
            ),
            ("rating", "rating: no type"),
            (
                "order:string",
                "order:string: order is a reserved word in SQL",
            ),
            ("type:string", "type:string: type is a Rust keyword"),
            ("id:integer", "id:integer: every resource has"),
            ("a:string:uniq", "a:string:uniq: unknown option uniq"),
            (
                "a:bool:unique",
                "a:bool:unique: a bool field cannot be unique",
            ),
        ] {
            let error = Field::parse(spec).map(|_| ()).unwrap_err().to_string();
            assert!(error.starts_with(message), "{spec}: {error}");
        }
    }

    #[test]
    fn resources_refuse_duplicates_and_no_fields() {
        let error = Resource::parse("book", &specs(&["a:string", "a:text"])).unwrap_err();
        assert!(error.to_string().contains("duplicate field a"), "{error}");
        let error = Resource::parse("book", &specs(&["x_id:bigint", "x:references"]));
        assert!(error.is_err());
        assert!(Resource::parse("book", &[]).is_err());
    }

    #[test]
    fn the_first_line_reads_back() -> Result<()> {
        let resource = Resource::parse("book", &specs(&["title:string:unique", "n:integer?"]))?;
        let line = resource.first_line();
        assert_eq!(
            line,
            "//! `/api/books`: generated by `chopin generate resource book title:string:unique \
             n:integer?`."
        );
        let (name, fields) = Resource::from_first_line(&line).unwrap_or_default();
        assert_eq!(name, "book");
        assert_eq!(fields, specs(&["title:string:unique", "n:integer?"]));
        Ok(())
    }
}
