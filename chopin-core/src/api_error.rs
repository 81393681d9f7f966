//! [`ApiError`]: the one JSON shape of every error response.
//!
//! ```json
//! {"error":"not_found","message":"no route for /nope","status":404,"request_id":"5f2c…-1"}
//! ```
//!
//! `error` is a stable machine-readable code, `message` is for people, `request_id`
//! matches the `x-request-id` response header and the server's log lines.

use std::{borrow::Cow, collections::BTreeMap};

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

/// An HTTP error answered as JSON.
///
/// Return it from handlers; Chopin fills in the request id on the way out.
///
/// ```
/// use chopin_core::ApiError;
///
/// async fn find_book() -> Result<String, ApiError> {
///     Err(ApiError::not_found("no book with that id"))
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: Cow<'static, str>,
    message: Cow<'static, str>,
    fields: Option<BTreeMap<Cow<'static, str>, Cow<'static, str>>>,
    /// Whole seconds for the `Retry-After` header.
    retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a BTreeMap<Cow<'static, str>, Cow<'static, str>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

impl ApiError {
    /// An error with any status, a stable code (`snake_case` by convention) and a message.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            fields: None,
            retry_after: None,
        }
    }

    /// An error whose code is derived from the status (`404` → `not_found`).
    pub fn from_status(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(status, code_for(status), message)
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::from_status(StatusCode::BAD_REQUEST, message)
    }

    /// 401 `unauthorized`; the response carries `WWW-Authenticate: Bearer`.
    pub fn unauthorized(message: impl Into<Cow<'static, str>>) -> Self {
        Self::from_status(StatusCode::UNAUTHORIZED, message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::from_status(StatusCode::FORBIDDEN, message)
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Self::from_status(StatusCode::CONFLICT, message)
    }

    /// 422 `unprocessable_entity` with a message per invalid field, rendered as
    /// `"fields": {"email": "must be an email address"}`.
    ///
    /// ```
    /// use chopin_core::ApiError;
    ///
    /// let error = ApiError::validation([("title", "must not be empty")]);
    /// assert_eq!(error.status(), 422);
    /// ```
    pub fn validation<K, V>(fields: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<Cow<'static, str>>,
        V: Into<Cow<'static, str>>,
    {
        let mut error = Self::from_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the request body has invalid fields",
        );
        error.fields = Some(
            fields
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        error
    }

    /// 429 `too_many_requests` with `Retry-After: <seconds>` (`wait` rounded up, at
    /// least 1).
    ///
    /// ```
    /// use std::time::Duration;
    /// use chopin_core::ApiError;
    ///
    /// let error = ApiError::too_many_requests(Duration::from_millis(1500));
    /// assert_eq!(error.status(), 429);
    /// assert_eq!(error.message(), "too many requests: try again in 2 seconds");
    /// ```
    pub fn too_many_requests(wait: std::time::Duration) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let secs = secs.max(1);
        let unit = if secs == 1 { "second" } else { "seconds" };
        let mut error = Self::from_status(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many requests: try again in {secs} {unit}"),
        );
        error.retry_after = Some(secs);
        error
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::from_status(StatusCode::NOT_FOUND, message)
    }

    /// 500 `internal_error` with a message that reveals nothing; log the detail instead.
    pub fn internal() -> Self {
        Self::from_status(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Each field a validation error names, with what is wrong with it.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        (self.fields.iter().flatten()).map(|(field, why)| (field.as_ref(), why.as_ref()))
    }

    pub(crate) fn to_json(&self, request_id: Option<&str>) -> Bytes {
        let body = Body {
            error: &self.code,
            message: &self.message,
            status: self.status.as_u16(),
            fields: self.fields.as_ref(),
            request_id,
        };
        // Serializing a struct of strings and an integer cannot fail.
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.to_json(None),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        // Kept so the error layer can re-render the body with the request id.
        response.extensions_mut().insert(self);
        response
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

/// `404` → `not_found`, `413` → `payload_too_large`, `500` → `internal_error`.
pub(crate) fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_ACCEPTABLE => "not_acceptable",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::CONFLICT => "conflict",
        StatusCode::LENGTH_REQUIRED => "length_required",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable_entity",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "request_header_fields_too_large",
        StatusCode::INTERNAL_SERVER_ERROR => "internal_error",
        StatusCode::NOT_IMPLEMENTED => "not_implemented",
        StatusCode::BAD_GATEWAY => "bad_gateway",
        StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
        StatusCode::GATEWAY_TIMEOUT => "gateway_timeout",
        s if s.is_client_error() => "client_error",
        _ => "server_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let e = ApiError::not_found("no route for /nope");
        let json: serde_json::Value = serde_json::from_slice(&e.to_json(Some("abc-1"))).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "error": "not_found",
                "message": "no route for /nope",
                "status": 404,
                "request_id": "abc-1",
            })
        );
        let without_id: serde_json::Value = serde_json::from_slice(&e.to_json(None)).unwrap();
        assert!(without_id.get("request_id").is_none());
    }

    #[test]
    fn codes_follow_status() {
        assert_eq!(code_for(StatusCode::PAYLOAD_TOO_LARGE), "payload_too_large");
        assert_eq!(code_for(StatusCode::IM_A_TEAPOT), "client_error");
        assert_eq!(code_for(StatusCode::INSUFFICIENT_STORAGE), "server_error");
    }
}
