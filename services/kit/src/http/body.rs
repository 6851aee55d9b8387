//! The request body limit of every shoplab API: bodies above [`MAX_BODY_BYTES`] answer
//! `413 Payload Too Large` in the shared JSON error shape, documented in each `/openapi.json`.
//!
//! Two places enforce it, because a body's size is known up front only when the client sends
//! `Content-Length`:
//! - [`reject_declared`] answers 413 from the header alone, before authentication or any extractor reads a
//!   byte (a size limit protects the server, so it comes first, like a proxy's `client_max_body_size`);
//! - `DefaultBodyLimit` caps what axum's extractors buffer for a chunked body; the kit's `Json` turns that
//!   rejection into the same 413 (see `crate::extract`).
//!
//! The largest legitimate body is an event batch of 1 000 events (about 250 kB), so 1 MiB leaves room
//! while keeping a flood of large bodies cheap to refuse.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Largest request body any shoplab API accepts, in bytes (1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Adds the limit to `router`: the `Content-Length` check first, then the cap on buffered bodies.
pub fn limit<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.layer(DefaultBodyLimit::max(MAX_BODY_BYTES)).layer(axum::middleware::from_fn(reject_declared))
}

/// Answers 413 when the declared `Content-Length` is above the limit; otherwise passes the request on.
pub async fn reject_declared(req: Request, next: Next) -> Response {
    if declared_length(&req).is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return ApiError::PayloadTooLarge.into_response();
    }
    next.run(req).await
}

/// The request's `Content-Length`, when present and a number.
fn declared_length(req: &Request) -> Option<u64> {
    req.headers().get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::post;
    use tower::ServiceExt;

    use super::*;
    use crate::extract::Json;

    async fn echo(Json(v): Json<serde_json::Value>) -> Json<serde_json::Value> {
        Json(v)
    }

    fn app() -> Router {
        limit(Router::new().route("/", post(echo)))
    }

    /// A body of `len` bytes of valid JSON (a string).
    fn json_of(len: usize) -> Vec<u8> {
        let mut b = vec![b'"'];
        b.resize(len - 1, b'a');
        b.push(b'"');
        b
    }

    async fn send(req: axum::http::Request<Body>) -> (StatusCode, serde_json::Value) {
        let resp = app().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    fn post_json(body: Body, length: Option<usize>) -> axum::http::Request<Body> {
        let mut req = axum::http::Request::post("/").header(header::CONTENT_TYPE, "application/json");
        if let Some(n) = length {
            req = req.header(header::CONTENT_LENGTH, n);
        }
        req.body(body).unwrap()
    }

    #[tokio::test]
    async fn a_body_at_the_limit_passes_and_one_byte_more_is_a_json_413() {
        let (status, _) = send(post_json(Body::from(json_of(MAX_BODY_BYTES)), Some(MAX_BODY_BYTES))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = send(post_json(Body::from(json_of(MAX_BODY_BYTES + 1)), Some(MAX_BODY_BYTES + 1))).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"]["code"], "payload_too_large");
    }

    #[tokio::test]
    async fn a_chunked_body_over_the_limit_is_a_json_413_too() {
        let chunks =
            json_of(MAX_BODY_BYTES + 10).chunks(64 * 1024).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>();
        let body = Body::from_stream(futures::stream::iter(chunks));
        let (status, body) = send(post_json(body, None)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"]["code"], "payload_too_large");
    }
}
