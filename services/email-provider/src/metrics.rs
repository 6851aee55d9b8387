//! The provider's own metric: `shoplab_provider_requests_total{result}`, every `POST /send` it received.
//!
//! The caller's counters say what the caller *meant* to do (`shoplab_email_send_total` counts sends); this
//! one is what reached the provider, retries included. Provider requests per signup is the retry storm
//! made visible: about 1 while every call succeeds, 4 when each failed call is retried three times at
//! once, and back near 1 under a retry budget (lever `auth.retry_policy`).

use kit::metrics::Metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// The `result` label's values: a fixed set.
pub const RESULTS: [&str; 6] = ["accepted", "duplicate", "failed", "invalid", "hung", "refused"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// `POST /send` requests by what the provider did with them.
#[derive(Clone, Default)]
pub struct Requests {
    /// accepted | duplicate (idempotency key seen) | failed (503) | invalid (422) | hung | refused (outage)
    by_result: Family<ResultLabels, Counter>,
}

impl Requests {
    /// Registers the family in the process's registry, every result at 0 (a panel shows 0, not nothing).
    pub fn register(metrics: &Metrics) -> Self {
        let me = Self::default();
        for result in RESULTS {
            drop(me.by_result.get_or_create(&ResultLabels { result }));
        }
        metrics.register(
            "shoplab_provider_requests",
            "POST /send requests the email provider received, by result",
            me.by_result.clone(),
        );
        me
    }

    /// Counts one request.
    pub fn count(&self, result: &'static str) {
        self.by_result.get_or_create(&ResultLabels { result }).inc();
    }
}
