//! Lever `auth.email_circuit_breaker` (book chapter "Traffic Management"): stop calling a provider that
//! is failing.
//!
//! The book's case study: "circuit breaker on the email service: 5 s timeout, opens at 50 % errors, 30 s
//! recovery window". The 5 s timeout is lever `auth.email_timeout_ms`; this lever adds only the breaker.
//! Once half the recent calls failed (at least 20 in a 10 s window) it opens and every call fails at once
//! for 30 s, without reaching the provider; then a few probes (5) decide whether it closes again or
//! stays open for another 30 s ([`breaker`] holds the state machine and its unit tests).
//!
//! - before: every signup calls the provider, however badly the last hundred calls went.
//! - after: the call goes through the breaker. Open, the signup fails fast (503, rolled back,
//!   `shoplab_email_send_total{result="short_circuited"}`) instead of adding its wait to the pile, and the
//!   provider gets the quiet it needs to recover. In the email worker the breaker does not fail the
//!   message: it holds it until a call could go through ([`worker_guard`]).
//!
//! Cost: an open breaker refuses calls that might have succeeded (for up to 30 s after the provider
//! healed), and it needs failures to see: without a timeout a hung call never ends, so it is never
//! counted — the breaker opens only when the hang ends. It also cannot keep the account: with only
//! this lever a refused signup is a failed signup; keeping it and sending later is `auth.async_email`.
//! Watch `shoplab_circuit_breaker_state{dependency="email-provider"}` (0 closed, 1 half-open, 2 open)
//! and the transitions in `GET /admin/flags` (`status.email_breaker`).

pub mod breaker;

use kit::flags::Flags;
use kit::metrics::Metrics;

pub use self::breaker::{BreakerConfig, Rejected, SharedBreaker, State};
use crate::email::{SendFailure, count};

/// The flag.
const FLAG: &str = "auth.email_circuit_breaker";

/// One call from the signup: through the breaker when the flag is on.
pub async fn guard(
    flags: &Flags,
    breaker: &SharedBreaker,
    call: impl Future<Output = Result<(), SendFailure>>,
) -> Result<(), SendFailure> {
    if flags.bool(FLAG) {
        // after: refused at once while open; the outcome feeds the failure rate
        breaker.call(call).await.map_err(|rejected| match rejected {
            Rejected::Open => SendFailure::ShortCircuited,
            Rejected::Failed(e) => e,
        })
    } else {
        // before: always call
        call.await
    }
}

/// One call from the email worker: through the breaker when the flag is on, waiting while it is open.
///
/// No one waits on the worker, so with the breaker open it does not fail fast: it holds the message until
/// the breaker lets a call through (the messages behind it stay in the queue). A refused call never
/// reached the provider, so it must not spend one of the message's attempts: a provider that is down for
/// longer than the retry schedule would otherwise send every email to the dead-letter queue unsent.
pub async fn worker_guard<F, Fut>(
    flags: &Flags,
    breaker: &SharedBreaker,
    metrics: &Metrics,
    mut call: F,
) -> Result<(), SendFailure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), SendFailure>>,
{
    if !flags.bool(FLAG) {
        // before: every message tries
        return call().await;
    }
    // after: a failing provider is left alone for the recovery window
    loop {
        if breaker.state() != State::Closed {
            count(metrics, "short_circuited");
        }
        breaker.ready().await;
        match breaker.call(call()).await {
            Ok(()) => return Ok(()),
            // another message took the half-open probe first: wait again
            Err(Rejected::Open) => continue,
            Err(Rejected::Failed(e)) => return Err(e),
        }
    }
}
