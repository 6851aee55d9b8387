//! Lever `auth.email_timeout_ms` (book chapter "Traffic Management"): stop waiting for the provider.
//!
//! The book's case study gives its circuit breaker "5 s timeout" as the first of its parameters; here
//! the timeout is a lever of its own, so its effect can be seen apart from the breaker's: a timeout
//! bounds how long *one* call can hold the signup (and its pooled connection), whatever the provider
//! does; the breaker decides whether to call at all.
//!
//! - before (`0`): reqwest's default, no timeout. A hung provider holds every signup that calls it, each
//!   with a database connection inside its transaction, until the provider closes the connection — the
//!   first step of the case study's cascade.
//! - after (`5000`, the book's value): a call that has no answer after 5 s is abandoned and counted as
//!   `shoplab_email_send_total{result="timed_out"}`; the signup answers 503 and rolls back.
//!
//! Cost: a slow-but-working provider is still waited on for up to the whole timeout per call; a timeout
//! below the provider's honest worst case cuts off calls that would have succeeded (and the email may
//! have been accepted after all: the call carries an idempotency key so a retry is not sent twice).
//! Watch signup p99 sit just above the timeout during an outage, and the timed-out count. The email
//! worker is not governed by this flag: it always bounds its calls by its own `AUTH_EMAIL_TIMEOUT_MS`.

use std::time::Duration;

use kit::flags::Flags;

use crate::email::{SendError, SendFailure, within};

/// The timeout the flag sets, `None` for 0 (no timeout).
pub fn limit(flags: &Flags) -> Option<Duration> {
    let ms = flags.int("auth.email_timeout_ms");
    (ms > 0).then(|| Duration::from_millis(ms as u64))
}

/// Runs one provider call, bounded by the flag's timeout when it is set.
pub async fn bounded(flags: &Flags, call: impl Future<Output = Result<(), SendError>>) -> Result<(), SendFailure> {
    match limit(flags) {
        // after: give up after the limit
        Some(limit) => within(limit, call).await,
        // before: wait as long as the provider takes
        None => call.await.map_err(SendFailure::Provider),
    }
}
