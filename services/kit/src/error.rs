//! The one JSON error shape of every shoplab API: `{"error": {"code", "message"}}`.
//!
//! Bad input is always a 4xx with a message a client can act on; internal causes (sqlx, redis, amqp) are
//! logged with the trace id and answered as a bare 500 so no internal detail leaks.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error an HTTP handler returns; each variant documents its status code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request cannot be understood (malformed JSON, bad parameter).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// 401: missing or wrong credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the action is disabled here (e.g. admin writes without a configured token).
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource.
    #[error("{0}")]
    NotFound(String),
    /// 409: conflicts with existing state (a duplicate key).
    #[error("{0}")]
    Conflict(String),
    /// 422: well-formed but invalid values.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// 413: the request body is larger than [`crate::http::body::MAX_BODY_BYTES`].
    #[error("request body larger than {} bytes", crate::http::body::MAX_BODY_BYTES)]
    PayloadTooLarge,
    /// 429: the client's token bucket is empty; `retry_after_secs` goes into `Retry-After`.
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    /// 503: a dependency is unavailable and the request was refused quickly rather than queued.
    #[error("{0}")]
    Unavailable(String),
    /// 500: anything unexpected; the cause is logged, never sent.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: String,
}

impl ApiError {
    /// 400 with a stable machine-readable code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest { code, message: message.into() }
    }

    /// 422 with a stable machine-readable code.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable { code, message: message.into() }
    }

    /// The HTTP status this error maps to.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. } | Self::Unprocessable { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::TooManyRequests { .. } => "rate_limited",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            Self::Internal(cause) => {
                tracing::error!(event = "internal_error", error = %format!("{cause:#}"), "request failed");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let body = Body { error: Inner { code: self.code(), message } };
        let mut resp = (status, axum::Json(body)).into_response();
        if let Self::TooManyRequests { retry_after_secs } = self {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs.max(1)));
        }
        resp
    }
}

/// The result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
