//! Lever `auth.retry_policy` (book chapter "Traffic Management"): retries that do not become a storm.
//!
//! The chapter pairs retries with "backoff and jitter": a retry is another request to a dependency that
//! just failed, and retrying at once, from every caller, multiplies the load on it exactly when it is
//! least able to take it. This lever governs the signup's own provider call ([`crate::email::direct`]);
//! the email worker's retries are the queue's (exponential backoff with jitter through wait queues, a
//! capped number of attempts, `crate::worker`), not changed by this flag.
//!
//! - before (`naive`): a failed call is retried at once, up to [`MAX_RETRIES`] times, by every signup.
//!   While the provider refuses, each signup sends it 4 requests instead of 1 — the provider's request
//!   rate multiplies by 4 during the outage (`shoplab_provider_requests_total`, counted by the provider).
//! - after (`backoff`): the retry waits a random time between 0 and `100 ms x 2^n` (capped at 2 s: "full
//!   jitter", so the retries of many callers that failed together do not arrive together), and only if
//!   the process's **retry budget** allows it: retries may be at most 10 % of the calls of the last 10 s
//!   (tower's `TpsBudget`, the Finagle design). While a few calls fail, each is retried; when most fail,
//!   the budget runs dry and the provider sees at most 1.1 requests per signup.
//!
//! Neither policy retries what cannot succeed: a 4xx the provider will repeat, or a call the breaker
//! refused. Cost: with the budget spent a signup fails on its first error that a retry might have saved,
//! and the backoff adds its wait to the signup's latency. Watch `shoplab_email_retries_total{outcome}`
//! (`retried`, `budget_exhausted`) beside the provider's request rate.

use std::time::Duration;

use kit::flags::Flags;
use kit::metrics::Metrics;

use crate::metrics::ResultLabels;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use rand::Rng;
use tower::retry::budget::{Budget, TpsBudget};

use crate::email::SendFailure;

/// Retries after the first call, in either policy.
pub const MAX_RETRIES: u32 = 3;
/// The backoff's first ceiling; doubles per retry.
const BASE: Duration = Duration::from_millis(100);
/// The backoff's largest ceiling.
const CAP: Duration = Duration::from_secs(2);
/// How long a call counts toward the budget.
const BUDGET_WINDOW: Duration = Duration::from_secs(10);
/// Retries allowed per call made.
const BUDGET_RATIO: f32 = 0.1;

/// The process's retry budget and its counter.
pub struct Retries {
    /// Calls deposit, retries withdraw (used by `backoff` only).
    budget: TpsBudget,
    /// `shoplab_email_retries_total{outcome}`: retried | budget_exhausted.
    outcomes: Family<ResultLabels, Counter>,
}

impl Retries {
    /// A full budget; registers `shoplab_email_retries_total` in `metrics`.
    pub fn new(metrics: &Metrics) -> Self {
        let outcomes = Family::<ResultLabels, Counter>::default();
        for result in ["retried", "budget_exhausted"] {
            drop(outcomes.get_or_create(&ResultLabels { result }));
        }
        metrics.register("shoplab_email_retries", "Retries of the signup's provider call, by outcome", outcomes.clone());
        Self { budget: TpsBudget::new(BUDGET_WINDOW, 0, BUDGET_RATIO), outcomes }
    }

    fn count(&self, result: &'static str) {
        self.outcomes.get_or_create(&ResultLabels { result }).inc();
    }
}

/// Runs `attempt`, retrying failures as `auth.retry_policy` says.
pub async fn run<F, Fut>(flags: &Flags, retries: &Retries, mut attempt: F) -> Result<(), SendFailure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), SendFailure>>,
{
    let backoff = flags.string("auth.retry_policy") == "backoff";
    if backoff {
        retries.budget.deposit();
    }
    let mut retry = 0;
    loop {
        let failure = match attempt().await {
            Ok(()) => return Ok(()),
            Err(failure) => failure,
        };
        if retry == MAX_RETRIES || !retryable(&failure) {
            return Err(failure);
        }
        retry += 1;
        if backoff {
            // after: only within the budget, and after a random share of a growing delay
            if !retries.budget.withdraw() {
                retries.count("budget_exhausted");
                return Err(failure);
            }
            let wait = full_jitter(retry, &mut rand::rng());
            tokio::time::sleep(wait).await;
        }
        // before: again, at once
        retries.count("retried");
    }
}

/// Whether another try could succeed: not a rejection the provider will repeat, not an open breaker.
fn retryable(failure: &SendFailure) -> bool {
    !failure.is_permanent() && !matches!(failure, SendFailure::ShortCircuited)
}

/// The wait before retry `n` (1-based): uniform in `0..min(CAP, BASE x 2^(n-1))`.
pub fn full_jitter(n: u32, rng: &mut impl Rng) -> Duration {
    let ceiling = BASE.saturating_mul(2u32.saturating_pow(n.saturating_sub(1))).min(CAP);
    ceiling.mul_f64(rng.random::<f64>())
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn full_jitter_stays_under_a_doubling_capped_ceiling() {
        let mut rng = StdRng::seed_from_u64(5);
        for (n, ceiling) in [(1, 100), (2, 200), (3, 400), (6, 2000), (30, 2000)] {
            let waits: Vec<_> = (0..1000).map(|_| full_jitter(n, &mut rng)).collect();
            assert!(waits.iter().all(|w| *w < Duration::from_millis(ceiling)), "retry {n} under {ceiling} ms");
            assert!(waits.iter().any(|w| *w < Duration::from_millis(ceiling / 4)), "retry {n}: jitter reaches low waits");
        }
    }

    #[test]
    fn the_budget_allows_one_retry_per_ten_calls() {
        let retries = Retries::new(&Metrics::new("retry-test"));
        assert!(!retries.budget.withdraw(), "no calls yet: no retries");
        for _ in 0..10 {
            retries.budget.deposit();
        }
        assert!(retries.budget.withdraw(), "10 calls earn 1 retry");
        assert!(!retries.budget.withdraw(), "and only 1");
    }

    #[test]
    fn open_circuits_and_client_errors_are_not_retried() {
        assert!(!retryable(&SendFailure::ShortCircuited));
        assert!(!retryable(&SendFailure::Provider(crate::email::SendError::Status(422))));
        assert!(retryable(&SendFailure::Provider(crate::email::SendError::Status(503))));
        assert!(retryable(&SendFailure::Timeout(Duration::from_secs(5))));
    }
}
