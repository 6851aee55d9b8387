//! The before road of `auth.async_email`: the signup sends the verification email itself, inside its
//! transaction, while the client (and a pooled connection) waits.
//!
//! Three levers shape that one call, each in its own file, composed here from the outside in:
//!
//! ```text
//! retry_policy( email_circuit_breaker( email_timeout_ms( provider.send ) ) )
//! ```
//!
//! - `auth.retry_policy` decides whether a failed call is tried again, how soon, and how many retries
//!   the whole process may spend (`crate::levers::retry_policy`);
//! - `auth.email_circuit_breaker` refuses every call at once while the provider is failing
//!   (`crate::levers::email_circuit_breaker`);
//! - `auth.email_timeout_ms` bounds how long one call may take (`crate::levers::email_timeout_ms`).
//!
//! Every attempt (a retry included) goes through the breaker and its own timeout. A call that failed
//! fails the signup: the transaction rolls back and the client gets a 5xx it may retry. A provider
//! failure is a 500, as the naive code always answered; a timeout or an open circuit is a 503 that says
//! so. Keeping the account and sending the email later is the other road (`auth.async_email`).

use kit::error::{ApiError, ApiResult};
use uuid::Uuid;

use super::outbox::mark_sent;
use super::{SendFailure, VerificationEmail, count};
use crate::levers::async_email::Delivery;
use crate::levers::{email_circuit_breaker, email_timeout_ms, retry_policy};
use crate::state::AppState;

/// Sends `email` now, from inside the signup transaction `tx`.
pub async fn send_now(state: &AppState, tx: &mut sqlx::PgConnection, email: &VerificationEmail) -> ApiResult<Delivery> {
    // one key for every attempt: a retry of a call that timed out after all is absorbed by the provider
    let key = Uuid::now_v7().to_string();
    let key = key.as_str();
    // one attempt; each failed one counts in shoplab_email_send_total (timed_out, short_circuited, failed)
    let attempt = move || async move {
        let call = email_timeout_ms::bounded(&state.flags, state.provider.send(email, Some(key)));
        let res = email_circuit_breaker::guard(&state.flags, &state.breaker, call).await;
        if let Err(failure) = &res {
            count(&state.metrics, failure.result_label());
        }
        res
    };
    match retry_policy::run(&state.flags, &state.retries, attempt).await {
        Ok(()) => {
            mark_sent(tx, email.token.as_deref()).await?;
            count(&state.metrics, "sent");
            crate::metrics::AuthMetrics::of(&state.metrics).email_delivery.observe(email.age_secs());
            Ok(Delivery::Sent)
        }
        Err(failure) => Err(refusal(failure)),
    }
}

/// The signup's error for a send that did not go through.
fn refusal(failure: SendFailure) -> ApiError {
    match failure {
        SendFailure::Provider(e) => ApiError::Internal(anyhow::Error::new(e).context("sending the verification email")),
        SendFailure::Timeout(limit) => {
            ApiError::Unavailable(format!("the email provider did not answer within {} ms; try again", limit.as_millis()))
        }
        SendFailure::ShortCircuited => {
            ApiError::Unavailable("the email provider is failing: signups are refused for now (circuit open)".into())
        }
    }
}
