//! JSON request bodies, checked in a fixed order with a clear error for each way they go wrong:
//! content type, size, UTF-8, JSON syntax, an object, then each field (missing, wrong type, too long).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use http::header;
use serde_json::{Map, Value};

use super::ApiError;

/// The largest JSON body a tenant endpoint reads.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// A request body that is a JSON object.
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<JsonObject, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::bad_request(
                "unsupported_content_type",
                "Send the body as JSON with Content-Type: application/json.",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge {
                    limit: MAX_JSON_BODY,
                }
            } else {
                ApiError::bad_request("invalid_body", "The body could not be read.")
            }
        })?;
        parse_object(&bytes).map(JsonObject)
    }
}

/// Parses a body that must be one JSON object.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.len() > MAX_JSON_BODY {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_JSON_BODY,
        });
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiError::bad_request("invalid_utf8", "The body is not valid UTF-8."))?;
    // serde_json's messages can quote the input; say where, never what.
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!(
                "The body is not valid JSON (line {}, column {}).",
                e.line(),
                e.column()
            ),
        )
    })?;
    match value {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::bad_request(
            "invalid_json",
            "The body must be a JSON object.",
        )),
    }
}

/// Typed access to an object's fields.
pub trait Fields {
    /// A required string field of at most `max` characters.
    fn required_str(&self, name: &str, max: usize) -> Result<&str, ApiError>;
}

impl Fields for Map<String, Value> {
    fn required_str(&self, name: &str, max: usize) -> Result<&str, ApiError> {
        match self.get(name) {
            None | Some(Value::Null) => Err(ApiError::bad_request(
                "missing_field",
                format!("{name} is required."),
            )),
            Some(Value::String(s)) if s.chars().count() > max => Err(ApiError::bad_request(
                "field_too_long",
                format!("{name} must be at most {max} characters."),
            )),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(ApiError::bad_request(
                "invalid_field",
                format!("{name} must be a string."),
            )),
        }
    }
}
