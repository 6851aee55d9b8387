//! The auth handlers' error: every `kit::error::ApiError`, plus the two refusals of a flood that carry
//! a `Retry-After` — 503 when password work is at capacity, 429 when the login throttle says wait.
//!
//! `ApiError::Unavailable` has no `Retry-After`; a client told "busy" without it tends to retry at once,
//! which is exactly the traffic a flood does not need, so this wrapper adds the header.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use kit::error::ApiError;

use crate::passwords::Busy;

/// What an auth handler returns on failure.
#[derive(Debug)]
pub enum AuthError {
    /// Any of the shared errors (4xx for bad input, 500 for internal causes).
    Api(ApiError),
    /// 503 + `Retry-After`: no password-work permit came free in time.
    Busy(Busy),
}

/// The result type of the auth handlers.
pub type AuthResult<T> = Result<T, AuthError>;

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        match self {
            AuthError::Api(e) => e.into_response(),
            AuthError::Busy(busy) => {
                let mut resp = ApiError::Unavailable(busy.to_string()).into_response();
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(busy.retry_after_secs.max(1)));
                resp
            }
        }
    }
}

impl From<ApiError> for AuthError {
    fn from(e: ApiError) -> Self {
        AuthError::Api(e)
    }
}

impl From<Busy> for AuthError {
    fn from(e: Busy) -> Self {
        AuthError::Busy(e)
    }
}

impl From<sqlx::Error> for AuthError {
    fn from(e: sqlx::Error) -> Self {
        AuthError::Api(e.into())
    }
}

impl From<anyhow::Error> for AuthError {
    fn from(e: anyhow::Error) -> Self {
        AuthError::Api(e.into())
    }
}
