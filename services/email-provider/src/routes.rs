//! `POST /send` and `GET /messages`: the provider's whole API.
//!
//! `/send` answers 202 with a message id, like a real transactional email API, after whatever the fault
//! knobs ask for (see [`crate::faults`]; an outage is handled before the request reaches these routes).
//! `/messages` lists what was accepted so tests and trainers can count deliveries per address. Those
//! messages hold verification tokens, so listing them needs the admin token (`Authorization: Bearer
//! $SHOPLAB_ADMIN_TOKEN`, checked before the query is parsed), and only a bounded window is kept
//! ([`crate::store`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use kit::config::ExposeSecret;
use kit::error::{ApiError, ApiResult};
use kit::extract::{Json, Query};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::faults::{Faults, Plan};
use crate::metrics::Requests;
use crate::store::{Accepted, Draft, Message, Store, Totals};

/// Longest accepted address (RFC 5321 path limit).
const MAX_ADDRESS: usize = 254;
/// Largest listing page.
const MAX_LIMIT: usize = 100_000;

/// The provider's state.
#[derive(Clone)]
pub struct ProviderState {
    /// Accepted messages.
    pub store: Arc<Store>,
    /// Current simulated health.
    pub faults: Faults,
    /// `POST /send` requests by result.
    pub requests: Requests,
    /// Bearer token `GET /messages` requires (`None`: listing disabled, 403).
    pub admin_token: Option<kit::config::SecretString>,
}

/// Body of `POST /send`.
#[derive(Deserialize, ToSchema)]
pub struct SendRequest {
    /// The recipient: an address with a domain (`local@example.test`), at most 254 characters.
    #[schema(pattern = "^[^@]+@[^@]*\\.[^@]*$", max_length = 254)]
    pub to: String,
    /// Not empty (nor only spaces).
    #[schema(pattern = "\\S")]
    pub subject: String,
    pub body: String,
    /// Same key twice = one message (the caller's retry is absorbed).
    pub idempotency_key: Option<String>,
}

/// Answer of `POST /send`.
#[derive(Serialize, ToSchema)]
pub struct SendAccepted {
    pub id: Uuid,
    /// `accepted`, or `duplicate` when the idempotency key was already known.
    pub status: &'static str,
}

/// Query of `GET /messages`.
#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only messages to this address (case-insensitive).
    pub to: Option<String>,
    /// At most this many items (default 1000).
    pub limit: Option<usize>,
}

/// Answer of `GET /messages`.
#[derive(Serialize, ToSchema)]
pub struct MessageList {
    pub items: Vec<Message>,
    /// Always null: one page, capped by `limit`.
    pub next_cursor: Option<String>,
    /// Kept messages matching the filter (may exceed `items.len()`).
    pub total: usize,
    /// Provider-wide counts.
    pub totals: Totals,
}

pub fn router(state: ProviderState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(crate::openapi::doc()).routes(routes!(send)).routes(routes!(messages)).with_state(state)
}

/// Accepts a message for delivery.
#[utoipa::path(post, path = "/send", tag = "email", request_body = SendRequest,
    responses((status = 202, body = SendAccepted), (status = 422, description = "invalid recipient or empty subject"),
        (status = 503, description = "flaky mode: simulated failure")))]
#[tracing::instrument(skip_all, fields(email.to.domain = tracing::field::Empty))]
async fn send(State(state): State<ProviderState>, Json(req): Json<SendRequest>) -> ApiResult<(StatusCode, Json<SendAccepted>)> {
    let domain = validate(&req).inspect_err(|_| state.requests.count("invalid"))?;
    tracing::Span::current().record("email.to.domain", domain.as_str());
    match state.faults.plan() {
        Plan::Fail(delay) => {
            tokio::time::sleep(delay).await;
            state.requests.count("failed");
            Err(ApiError::Unavailable("simulated provider failure (flaky mode)".into()))
        }
        Plan::Accept(delay) => {
            tokio::time::sleep(delay).await;
            let trace_id = kit::telemetry::current_trace_id();
            let draft =
                Draft { to: req.to, subject: req.subject, body: req.body, idempotency_key: req.idempotency_key, trace_id };
            let (id, status) = match state.store.accept(draft) {
                Accepted::New(id) => (id, "accepted"),
                Accepted::Duplicate(id) => (id, "duplicate"),
            };
            state.requests.count(status);
            Ok((StatusCode::ACCEPTED, Json(SendAccepted { id, status })))
        }
    }
}

/// Proof of the admin token, taken before the query string is parsed (authentication before validation).
struct Admin;

impl axum::extract::FromRequestParts<ProviderState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &ProviderState) -> ApiResult<Self> {
        kit::http::admin::authorize_token(state.admin_token.as_ref().map(ExposeSecret::expose_secret), &parts.headers)
            .map(|()| Admin)
    }
}

/// What the provider accepted (the newest messages), for verification; needs the admin token.
#[utoipa::path(get, path = "/messages", tag = "email", params(ListQuery),
    responses((status = 200, body = MessageList), (status = 401, description = "missing or wrong admin token"),
        (status = 403, description = "no admin token configured: listing disabled")),
    security(("admin_token" = [])))]
async fn messages(State(state): State<ProviderState>, _: Admin, Query(q): Query<ListQuery>) -> Json<MessageList> {
    let limit = q.limit.unwrap_or(1000).min(MAX_LIMIT);
    let (items, total) = state.store.list(q.to.as_deref(), limit);
    Json(MessageList { items, next_cursor: None, total, totals: state.store.totals() })
}

/// Checks the request a real provider would reject with 422; returns the recipient's domain.
fn validate(req: &SendRequest) -> ApiResult<String> {
    let to = req.to.trim();
    let domain = match to.split_once('@') {
        Some((local, domain)) if !local.is_empty() && domain.contains('.') && to.len() <= MAX_ADDRESS => domain,
        _ => return Err(ApiError::unprocessable("invalid_recipient", "`to` must be an email address")),
    };
    if req.subject.trim().is_empty() {
        return Err(ApiError::unprocessable("empty_subject", "`subject` must not be empty"));
    }
    Ok(domain.to_owned())
}
