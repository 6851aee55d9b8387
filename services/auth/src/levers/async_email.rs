//! Lever `auth.async_email` (book chapter "Asynchronous Processing"): take the email out of the request.
//!
//! The book's case study: "async email: fire-and-forget through a message queue, sent by a background
//! worker with retries". The signup's only job becomes writing rows; delivery happens elsewhere, at the
//! provider's pace, and a provider outage no longer reaches the request at all.
//!
//! - before: the request calls the provider itself, inside its transaction
//!   ([`super::email_circuit_breaker::send_now`], with or without the breaker).
//! - after: the user row and an outbox row are written in **one** transaction (`kit::outbox::enqueue`),
//!   so there is never a user without an email on its way, nor an email for a rolled-back user. The
//!   relay (`auth relay`) publishes outbox rows to RabbitMQ with publisher confirms; the worker
//!   (`auth email-worker`) sends them with retries (exponential backoff + jitter through wait queues), a
//!   dead-letter queue after the last attempt, and idempotency by message id ([`crate::worker`]).
//!
//! Cost: more moving parts (relay, broker, worker, DLQ to watch), delivery is *eventual* — the user may
//! wait seconds or, while the provider is down, minutes for the email — and delivery is at least once,
//! so the consumer must be idempotent. `shoplab_outbox_pending` and `shoplab_email_delivery_seconds`
//! show the backlog and the delay the request no longer pays.

use kit::error::ApiResult;
use kit::metrics::Metrics;
use kit::outbox::enqueue;
use serde::Serialize;
use utoipa::ToSchema;

use crate::email::VerificationEmail;
use crate::email::topology::ROUTING_KEY;
use crate::metrics::{AuthMetrics, ResultLabels};
use crate::state::AppState;

/// What happened to a signup's verification email.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// The provider accepted it during the request.
    Sent,
    /// Written to the outbox; the worker will send it.
    Queued,
    /// The direct attempt failed or was short-circuited; written to the outbox instead.
    Deferred,
}

/// Sends (before) or queues (after) the verification email, inside the signup's transaction.
pub async fn send_verification(state: &AppState, tx: &mut sqlx::PgConnection, email: VerificationEmail) -> ApiResult<Delivery> {
    if state.flags.bool("auth.async_email") {
        // after: one more row in the same transaction; relay + worker deliver it
        defer(state, tx, &email).await?;
        Ok(Delivery::Queued)
    } else {
        // before: the provider is called right here, while the request (and its connection) waits
        super::email_circuit_breaker::send_now(state, tx, email).await
    }
}

/// Writes `email` to the outbox in the caller's transaction.
pub async fn defer(state: &AppState, tx: &mut sqlx::PgConnection, email: &VerificationEmail) -> Result<(), sqlx::Error> {
    let payload = serde_json::to_value(email).expect("a verification email serializes");
    enqueue(tx, &crate::relay::OUTBOX, &state.topology.exchange, ROUTING_KEY, &payload).await?;
    Ok(())
}

/// Records that the provider accepted the email for `token` (a notice without a token has no row).
pub async fn mark_sent(tx: &mut sqlx::PgConnection, token: Option<&str>) -> Result<(), sqlx::Error> {
    const SQL: &str = "update auth.email_verifications set sent_at = coalesce(sent_at, now()) where token_hash = $1";
    let Some(token) = token else { return Ok(()) };
    kit::db::traced(SQL, sqlx::query(SQL).bind(crate::credentials::token_hash(token)).execute(&mut *tx)).await?;
    Ok(())
}

/// Counts one `shoplab_email_send_total{result}`.
pub fn count(metrics: &Metrics, result: &'static str) {
    AuthMetrics::of(metrics).email_send.get_or_create(&ResultLabels { result }).inc();
}
