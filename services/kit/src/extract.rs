//! Extractors whose rejections use the shared error shape.
//!
//! axum's own `Json`, `Query` and `Path` answer malformed input with plain text; these wrappers turn every
//! rejection into `{"error": {"code", "message"}}` with the same 400/415/422 meaning, so clients parse one
//! format whatever went wrong. A body over the limit (`crate::http::body::MAX_BODY_BYTES`, enforced by the
//! layer `crate::http::body::limit` adds) is a 413 in the same shape, not a 400.

use axum::extract::FromRequest;
use axum::extract::FromRequestParts;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// JSON body extractor and response: malformed JSON -> 400, wrong field types -> 422, wrong content type -> 400,
/// a body over the limit -> 413.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Query string extractor: a missing or unparsable parameter -> 400 naming it.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// Path extractor: `/items/abc` where an id is expected -> 400.
#[derive(Debug, Clone, Copy, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::PayloadTooLarge;
        }
        match r {
            JsonRejection::JsonDataError(e) => ApiError::unprocessable("invalid_body", e.body_text()),
            JsonRejection::JsonSyntaxError(e) => ApiError::bad_request("malformed_json", e.body_text()),
            JsonRejection::MissingJsonContentType(e) => ApiError::bad_request("unsupported_media_type", e.body_text()),
            other => ApiError::bad_request("bad_body", other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request("invalid_query", r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request("invalid_path", r.body_text())
    }
}
