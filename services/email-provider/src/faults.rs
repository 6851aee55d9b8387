//! The fault knobs: how unhealthy the simulated provider is right now, read from the flag snapshot.
//!
//! Case study 3 starts from "the downstream email (verification) service, slow and sometimes down, caused
//! timeouts". This module is the only place in shoplab allowed to make something slow or broken on
//! purpose, and only through the `emailprovider.*` flags:
//!
//! | `emailprovider.mode` | what `POST /send` does |
//! |---|---|
//! | `healthy` | accepts at once |
//! | `slow` | waits `emailprovider.latency_ms` (jittered, with a tail), then accepts |
//! | `flaky` | waits like `slow`, then fails with 503 for a share `emailprovider.error_rate` of requests |
//! | `down` | `emailprovider.down_style`: `hang` (accept the connection, never answer) or `refuse` (close it at once) |
//!
//! A real outage is rarely a polite 503: a hung provider holds the caller's connection (and whatever the
//! caller holds while waiting) until the caller gives up, which is exactly how the cascade starts.

use std::time::Duration;

use kit::flags::Flags;
use rand::Rng;
use tokio_util::sync::CancellationToken;

/// Share of requests that land in the latency tail.
const TAIL_SHARE: f64 = 0.05;

/// How an outage shows to callers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outage {
    /// The connection is accepted and never answered.
    Hang,
    /// The connection is closed at once, with no response.
    Refuse,
}

/// What one `POST /send` will do, decided when it arrives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Plan {
    /// Wait, then accept the message.
    Accept(Duration),
    /// Wait, then answer 503.
    Fail(Duration),
}

/// The provider's view of its own (simulated) health.
#[derive(Clone)]
pub struct Faults {
    /// The lab flags; `emailprovider.*` are read on every request (no I/O).
    flags: Flags,
}

impl Faults {
    pub fn new(flags: Flags) -> Self {
        Self { flags }
    }

    /// `Some` while `emailprovider.mode` is `down`.
    pub fn outage(&self) -> Option<Outage> {
        if self.flags.string("emailprovider.mode") != "down" {
            return None;
        }
        Some(if self.flags.string("emailprovider.down_style") == "refuse" { Outage::Refuse } else { Outage::Hang })
    }

    /// The plan for a request arriving now (the provider is not down).
    pub fn plan(&self) -> Plan {
        let mode = self.flags.string("emailprovider.mode");
        let latency = self.flags.int("emailprovider.latency_ms").max(0) as u64;
        let error_rate = self.flags.float("emailprovider.error_rate");
        plan(&mode, latency, error_rate, &mut rand::rng())
    }

    /// Waits while the provider is down (a hung request), until it comes back or the server stops.
    ///
    /// When the trainer heals the provider the hung connections are closed, as a restarted server would.
    pub async fn hang_until_up(&self, stop: &CancellationToken) {
        let mut changes = self.flags.subscribe();
        while self.outage().is_some() {
            tokio::select! {
                _ = stop.cancelled() => return,
                changed = changes.changed() => if changed.is_err() { return },
            }
        }
    }
}

/// The plan for `mode` (pure, so it is tested without flags).
pub fn plan(mode: &str, latency_ms: u64, error_rate: f64, rng: &mut impl Rng) -> Plan {
    match mode {
        "slow" => Plan::Accept(jittered(latency_ms, rng)),
        "flaky" => {
            let delay = jittered(latency_ms, rng);
            if rng.random::<f64>() < error_rate { Plan::Fail(delay) } else { Plan::Accept(delay) }
        }
        _ => Plan::Accept(Duration::ZERO),
    }
}

/// `latency_ms` +-25 %, and for 5 % of requests 2x to 4x that: real latency has a tail, and the tail is
/// what trips timeouts first.
pub fn jittered(latency_ms: u64, rng: &mut impl Rng) -> Duration {
    let base = latency_ms as f64 * rng.random_range(0.75..1.25);
    let tail = if rng.random::<f64>() < TAIL_SHARE { rng.random_range(2.0..4.0) } else { 1.0 };
    Duration::from_secs_f64(base * tail / 1000.0)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn healthy_accepts_at_once() {
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(plan("healthy", 3000, 1.0, &mut rng), Plan::Accept(Duration::ZERO));
    }

    #[test]
    fn slow_latency_is_jittered_with_a_tail() {
        let mut rng = StdRng::seed_from_u64(7);
        let delays: Vec<f64> = (0..10_000).map(|_| jittered(1000, &mut rng).as_secs_f64()).collect();
        assert!(delays.iter().all(|d| (0.75..5.0).contains(d)), "every delay within 0.75x..5x");
        let tail = delays.iter().filter(|d| **d > 1.25).count() as f64 / delays.len() as f64;
        assert!((0.03..0.07).contains(&tail), "about 5 % in the tail, got {tail}");
    }

    #[test]
    fn flaky_fails_about_error_rate() {
        let mut rng = StdRng::seed_from_u64(3);
        let fails = (0..10_000).filter(|_| matches!(plan("flaky", 0, 0.3, &mut rng), Plan::Fail(_))).count();
        assert!((2_700..3_300).contains(&fails), "about 30 % failures, got {fails}");
        assert!(matches!(plan("flaky", 0, 1.0, &mut rng), Plan::Fail(_)));
        assert!(matches!(plan("flaky", 0, 0.0, &mut rng), Plan::Accept(_)));
    }
}
