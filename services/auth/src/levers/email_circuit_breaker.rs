//! Lever `auth.email_circuit_breaker` (book chapter "Traffic Management"): stop waiting on a provider
//! that is failing.
//!
//! The book's case study: "circuit breaker on the email service: 5 s timeout, opens at 50 % errors, 30 s
//! recovery window". Without it, a signup waits for the provider as long as the provider takes — with
//! reqwest's default of no timeout, forever when it hangs — while holding a database connection inside
//! its transaction. With it, a call waits at most 5 s; once half the recent calls failed the breaker
//! opens and calls fail at once for 30 s, then a few probes decide whether to close it again
//! (see [`crate::email::breaker`] for the state machine).
//!
//! - before: `provider.send(..).await?` inside the signup transaction; any provider failure fails the
//!   signup (500) and rolls the new account back.
//! - after: the call goes through the breaker; on timeout, error or open circuit the signup still
//!   succeeds and the email is *deferred*: written to the outbox in the same transaction, so the relay
//!   and worker send it later (`shoplab_email_send_total{result="short_circuited"}` counts fast failures).
//!
//! Cost: a slow-but-working provider is still waited on for up to 5 s per signup (the breaker only
//! counts failures), an open breaker defers emails that might have gone through, and the 5 s timeout
//! must stay above the provider's honest worst case or healthy calls are cut off. The worker applies the
//! same breaker when the flag is on, so a down provider is not hammered by retries either.

use std::time::Duration;

use kit::error::{ApiError, ApiResult};
use kit::flags::Flags;
use kit::metrics::Metrics;
use uuid::Uuid;

use super::async_email::{Delivery, count, defer, mark_sent};
use crate::email::breaker::{Rejected, SharedBreaker, State};
use crate::email::{ProviderClient, SendError, VerificationEmail};
use crate::state::AppState;

/// Sends the verification email from inside the signup request (`auth.async_email` off).
pub async fn send_now(state: &AppState, tx: &mut sqlx::PgConnection, mut email: VerificationEmail) -> ApiResult<Delivery> {
    if state.flags.bool("auth.email_circuit_breaker") {
        // after: bounded wait, fail fast while open, never fail the signup because of email
        let key = Uuid::now_v7().to_string();
        match state.breaker.call(state.provider.send(&email, Some(&key))).await {
            Ok(()) => delivered(state, tx, &email).await,
            Err(rejected) => {
                count(&state.metrics, if matches!(rejected, Rejected::Open) { "short_circuited" } else { "failed" });
                tracing::warn!(event = "email_deferred", reason = %rejected, "verification email deferred to the outbox");
                email.idempotency_key = Some(key);
                defer(state, tx, &email).await?;
                Ok(Delivery::Deferred)
            }
        }
    } else {
        // before: wait as long as the provider takes, holding this transaction's connection
        if let Err(e) = state.provider.send(&email, None).await {
            count(&state.metrics, "failed");
            return Err(ApiError::Internal(anyhow::Error::new(e).context("sending the verification email")));
        }
        delivered(state, tx, &email).await
    }
}

async fn delivered(state: &AppState, tx: &mut sqlx::PgConnection, email: &VerificationEmail) -> ApiResult<Delivery> {
    mark_sent(tx, email.token.as_deref()).await?;
    count(&state.metrics, "sent");
    crate::metrics::AuthMetrics::of(&state.metrics).email_delivery.observe(email.age_secs());
    Ok(Delivery::Sent)
}

/// Why the worker's send did not go through.
#[derive(Debug, thiserror::Error)]
pub enum SendFailure {
    /// No answer within the timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Provider(#[from] SendError),
}

impl SendFailure {
    /// Retrying cannot help (the provider rejected the message itself).
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendFailure::Provider(e) if e.is_permanent())
    }
}

/// The worker's send: always bounded by `timeout`; through the breaker when the flag is on.
///
/// No one waits on the worker, so with the breaker open it does not fail fast: it holds the message until
/// the breaker lets a call through (the messages behind it stay in the queue). A refused call never
/// reached the provider, so it must not spend one of the message's attempts: a provider that is down for
/// longer than the retry schedule would otherwise send every email to the dead-letter queue unsent.
pub async fn worker_send(
    flags: &Flags,
    breaker: &SharedBreaker,
    provider: &ProviderClient,
    email: &VerificationEmail,
    key: &str,
    timeout: Duration,
    metrics: &Metrics,
) -> Result<(), SendFailure> {
    if flags.bool("auth.email_circuit_breaker") {
        // breaker on: a failing provider is left alone for the recovery window
        loop {
            if breaker.state() != State::Closed {
                count(metrics, "short_circuited");
            }
            breaker.ready().await;
            match breaker.call(provider.send(email, Some(key))).await {
                Ok(()) => return Ok(()),
                // another message took the half-open probe first: wait again
                Err(Rejected::Open) => continue,
                Err(Rejected::Timeout(t)) => return Err(SendFailure::Timeout(t)),
                Err(Rejected::Failed(e)) => return Err(SendFailure::Provider(e)),
            }
        }
    } else {
        // breaker off: every message tries, each waiting up to the timeout
        match tokio::time::timeout(timeout, provider.send(email, Some(key))).await {
            Ok(res) => res.map_err(SendFailure::Provider),
            Err(_) => Err(SendFailure::Timeout(timeout)),
        }
    }
}
