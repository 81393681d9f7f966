//! `src/fields.rs`: the helpers every generated resource shares, written once by `chopin
//! new`. The resources import them by name (`module` decides which), so a name changed
//! here must change there too.

/// The file, as rustfmt would format it.
pub(crate) const FIELDS_RS: &str = r##"//! How the generated resources read their input: the page a list asks for, the id in a
//! path, and the check of each field type, written once. `chopin generate resource`
//! imports what each resource uses from here, by name. This file is yours to change: a
//! check changed here changes for every resource that uses it. It also reads the columns
//! that sqlx's Any driver cannot decode as they are, bools and JSON.

use chopin_core::{ApiError, Db};
use serde::{Deserialize, Deserializer};
use sqlx::{Row, any::AnyRow};
use utoipa::IntoParams;

/// Page size when `per_page` is absent.
pub const PER_PAGE_DEFAULT: i64 = 20;
/// Largest page size.
pub const PER_PAGE_MAX: i64 = 100;
/// Longest `string` value, in characters.
pub const STRING_MAX: usize = 255;
/// Longest `text` value, in characters.
pub const TEXT_MAX: usize = 65_535;

/// The page a list asks for, in its query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// From 1; 1 when absent.
    #[param(minimum = 1)]
    pub page: Option<i64>,
    /// From 1 to 100; 20 when absent.
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<i64>,
}

impl Paging {
    /// The page, the page size and the offset of the page's first row, or a `422` naming
    /// `page`, `per_page` or both.
    pub fn checked(&self) -> Result<(i64, i64, i64), ApiError> {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(PER_PAGE_DEFAULT);
        let page_error = (page < 1).then_some(("page", "must be at least 1"));
        let per_page_error = (!(1..=PER_PAGE_MAX).contains(&per_page))
            .then_some(("per_page", "must be from 1 to 100"));
        if page_error.is_some() || per_page_error.is_some() {
            return Err(ApiError::validation(
                page_error.into_iter().chain(per_page_error),
            ));
        }
        // Past the last page is an empty page, however far.
        Ok((page, per_page, (page - 1).saturating_mul(per_page)))
    }
}

/// A row's id in a path: a whole number, which JSON Schema lets clients write `2.0`.
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct Id(pub i64);

impl TryFrom<String> for Id {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let number = text.parse().ok();
        number
            .as_ref()
            .and_then(whole)
            .map(Id)
            .ok_or_else(|| format!("{text} is not an id"))
    }
}

/// `result`'s value; on an error, records it under `field` and gives a placeholder
/// (the fields are not used once there is an error).
pub fn check<T: Default>(
    errors: &mut Vec<(&'static str, String)>,
    field: &'static str,
    result: Result<T, String>,
) -> T {
    result.unwrap_or_else(|error| {
        errors.push((field, error));
        T::default()
    })
}

/// A required field's value, checked by `valid`.
pub fn required<T, U>(value: Option<T>, valid: fn(T) -> Result<U, String>) -> Result<U, String> {
    value
        .ok_or_else(|| "is required".to_owned())
        .and_then(valid)
}

/// An optional field's value, if any, checked by `valid`.
pub fn optional<T, U>(
    value: Option<T>,
    valid: fn(T) -> Result<U, String>,
) -> Result<Option<U>, String> {
    value.map(valid).transpose()
}

/// A `string` value: 1 to 255 characters, no NUL.
pub fn string(value: String) -> Result<String, String> {
    within(value, STRING_MAX)
}

/// A `text` value: 1 to 65,535 characters, no NUL.
pub fn text(value: String) -> Result<String, String> {
    within(value, TEXT_MAX)
}

/// 1 to `max` characters, without NUL (which PostgreSQL's text cannot hold).
pub fn within(value: String, max: usize) -> Result<String, String> {
    if value.is_empty() {
        Err("must not be empty".to_owned())
    } else if value.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else if value.contains('\0') {
        Err("must not contain NUL".to_owned())
    } else {
        Ok(value)
    }
}

/// An `integer` value: a whole number of 32 bits.
pub fn integer(value: serde_json::Number) -> Result<i32, String> {
    whole(&value)
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| "must be a whole number of 32 bits".to_owned())
}

/// A `bigint` value or an id: a whole number of 64 bits.
pub fn bigint(value: serde_json::Number) -> Result<i64, String> {
    whole(&value).ok_or_else(|| "must be a whole number of 64 bits".to_owned())
}

/// `value` as an `i64`, if it is a whole number in range: JSON Schema counts `2.0` as an
/// integer, so clients may send one.
pub fn whole(value: &serde_json::Number) -> Option<i64> {
    value.as_i64().or_else(|| {
        let float = value.as_f64()?;
        // Integers past i64 arrive as floats too: -2^63 may be -2^63 - 1 rounded.
        (float.fract() == 0.0 && float.abs() < 2f64.powi(63)).then_some(float as i64)
    })
}

/// A `timestamp` value: an RFC 3339 date and time, as it is.
pub fn timestamp(value: String) -> Result<String, String> {
    if is_rfc3339(&value) {
        Ok(value)
    } else {
        Err("must be an RFC 3339 date and time, e.g. 2026-01-01T00:00:00Z".to_owned())
    }
}

/// Whether `value` is `YYYY-MM-DDTHH:MM:SS`, an optional fraction, then `Z` or `+HH:MM`
/// or `-HH:MM` (RFC 3339, `T` and `Z` in either case), with a real day of its month.
pub fn is_rfc3339(value: &str) -> bool {
    let bytes = value.as_bytes();
    // The number the digits at `at` write, if they are all digits.
    let number = |at: std::ops::Range<usize>| {
        bytes.get(at)?.iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')]
        .iter()
        .all(|&(at, b)| bytes.get(at) == Some(&b))
        && matches!(bytes.get(10), Some(b'T' | b't'));
    let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10)) else {
        return false;
    };
    let (Some(hour), Some(minute), Some(second)) = (number(11..13), number(14..16), number(17..19))
    else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    if !separators || day == 0 || day > days || hour > 23 || minute > 59 || second > 60 {
        return false;
    }
    let mut rest = bytes.get(19..).unwrap_or_default();
    if let [b'.', fraction @ ..] = rest {
        let digits = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        rest = &fraction[digits..];
    }
    let at = value.len() - rest.len();
    match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', _, _, b':', _, _] => {
            number(at + 1..at + 3).is_some_and(|h| h <= 23)
                && number(at + 4..at + 6).is_some_and(|m| m <= 59)
        }
        _ => false,
    }
}

/// A `uuid` value: 8-4-4-4-12 hex digits, in lowercase.
pub fn uuid(value: String) -> Result<String, String> {
    let shape = value.split('-').map(str::len).eq([8, 4, 4, 4, 12]);
    if shape && value.chars().all(|c| c == '-' || c.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err("must be a UUID: 8-4-4-4-12 hex digits".to_owned())
    }
}

/// A required `json` field, for `#[serde(default, deserialize_with = "present")]`: present,
/// `null` included, it is `Some`; only an absent one is `None`.
pub fn present<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(deserializer).map(Some)
}

/// Whether row `id` of `table` exists: a `references` field's check. `table` goes into
/// the SQL as it is: give a constant, never text from a request.
pub async fn exists(db: &Db, table: &str, id: i64) -> Result<bool, ApiError> {
    let query = format!("SELECT id FROM {table} WHERE id = $1");
    let found: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(query))
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(found.is_some())
}

/// A failed delete as the client should see it: a `409` when rows of another resource
/// still refer to the row (their foreign key refuses the delete), else the database error.
pub fn delete_error(error: sqlx::Error) -> ApiError {
    match &error {
        sqlx::Error::Database(e) if e.is_foreign_key_violation() => {
            ApiError::conflict("other rows refer to it: delete or change them first")
        }
        _ => error.into(),
    }
}

// sqlx's Any driver decodes neither a bool nor JSON alike on both backends: SQLite gives
// bools back as integers (and the generated queries read PostgreSQL's as integers too),
// and JSON is stored as text. A model with such a field reads its rows with these.

/// Column `column`, a bool read as an integer, or NULL.
pub fn optional_bool_column(row: &AnyRow, column: &str) -> Result<Option<bool>, sqlx::Error> {
    let value: Option<i32> = row.try_get(column)?;
    Ok(value.map(|value| value != 0))
}

/// Column `column`, JSON stored as text.
pub fn json_column(row: &AnyRow, column: &str) -> Result<serde_json::Value, sqlx::Error> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: Box::new(e),
    })
}

/// Column `column`, JSON stored as text, or NULL.
pub fn optional_json_column(
    row: &AnyRow,
    column: &str,
) -> Result<Option<serde_json::Value>, sqlx::Error> {
    match row.try_get::<Option<String>, _>(column)? {
        Some(_) => json_column(row, column).map(Some),
        None => Ok(None),
    }
}
"##;
