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
//! | `outage` | a cycle of `emailprovider.outage_every_secs`: `slow` for most of it, then `down` for its last `emailprovider.outage_secs` |
//!
//! A real outage is rarely a polite 503: a hung provider holds the caller's connection (and whatever the
//! caller holds while waiting) until the caller gives up, which is exactly how the cascade starts.
//!
//! `outage` is the book's "slow and sometimes down" as a schedule: the cycle starts when the provider
//! first serves a request in that mode (so a run that sets the mode knows where it is in the cycle), and
//! with the `case3-outage-provider` values — 35 s slow, 25 s down, every minute — a 5 s timeout and a
//! breaker opening at 50 % errors have an outage to react to and a healed provider to close on, within
//! two minutes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// Where `outage` mode is in its cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Serving slowly; down in this long.
    Up { down_in: Duration },
    /// Down; back in this long.
    Down { up_in: Duration },
}

/// The phase `elapsed` into the cycle: `every - down` up, then `down` down (pure, tested without a clock).
pub fn phase(elapsed: Duration, every_secs: u64, down_secs: u64) -> Phase {
    let every = Duration::from_secs(every_secs.max(1));
    let down = Duration::from_secs(down_secs).min(every);
    let at = Duration::from_nanos((elapsed.as_nanos() % every.as_nanos()) as u64);
    let up_for = every - down;
    if at < up_for { Phase::Up { down_in: up_for - at } } else { Phase::Down { up_in: every - at } }
}

/// The provider's view of its own (simulated) health.
#[derive(Clone)]
pub struct Faults {
    /// The lab flags; `emailprovider.*` are read on every request (no I/O).
    flags: Flags,
    /// When the current `outage` cycle started (`None` while the mode is something else).
    cycle_start: Arc<Mutex<Option<Instant>>>,
}

impl Faults {
    pub fn new(flags: Flags) -> Self {
        Self { flags, cycle_start: Arc::default() }
    }

    /// `Some` while the provider is down: always in `down` mode, in the down phase of `outage` mode.
    pub fn outage(&self) -> Option<Outage> {
        let down = match self.flags.string("emailprovider.mode").as_str() {
            "down" => true,
            "outage" => matches!(self.outage_phase(), Some(Phase::Down { .. })),
            _ => false,
        };
        if !down {
            return None;
        }
        Some(if self.flags.string("emailprovider.down_style") == "refuse" { Outage::Refuse } else { Outage::Hang })
    }

    /// The `outage` cycle's phase now (starting the cycle at the first look), or `None` in another mode.
    pub fn outage_phase(&self) -> Option<Phase> {
        let mut start = self.cycle_start.lock().expect("outage clock poisoned");
        if self.flags.string("emailprovider.mode") != "outage" {
            *start = None;
            return None;
        }
        let started = *start.get_or_insert_with(Instant::now);
        let every = self.flags.int("emailprovider.outage_every_secs").max(1) as u64;
        let down = self.flags.int("emailprovider.outage_secs").max(0) as u64;
        Some(phase(started.elapsed(), every, down))
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
    /// When the trainer heals the provider, or an `outage` period ends, the hung connections are closed,
    /// as a restarted server would.
    pub async fn hang_until_up(&self, stop: &CancellationToken) {
        let mut changes = self.flags.subscribe();
        while self.outage().is_some() {
            let up_in = match self.outage_phase() {
                Some(Phase::Down { up_in }) => up_in,
                _ => Duration::from_secs(3600),
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(up_in) => {}
                changed = changes.changed() => if changed.is_err() { return },
            }
        }
    }
}

/// The plan for `mode` (pure, so it is tested without flags).
pub fn plan(mode: &str, latency_ms: u64, error_rate: f64, rng: &mut impl Rng) -> Plan {
    match mode {
        // outage mode between its down periods is slow mode
        "slow" | "outage" => Plan::Accept(jittered(latency_ms, rng)),
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
    fn outage_is_up_then_down_in_every_cycle() {
        let s = Duration::from_secs;
        assert_eq!(phase(s(0), 60, 25), Phase::Up { down_in: s(35) });
        assert_eq!(phase(s(34), 60, 25), Phase::Up { down_in: s(1) });
        assert_eq!(phase(s(35), 60, 25), Phase::Down { up_in: s(25) });
        assert_eq!(phase(s(59), 60, 25), Phase::Down { up_in: s(1) });
        assert_eq!(phase(s(60), 60, 25), Phase::Up { down_in: s(35) }, "the next cycle");
        assert_eq!(phase(s(100), 60, 25), Phase::Down { up_in: s(20) });
        assert_eq!(phase(s(5), 10, 99), Phase::Down { up_in: s(5) }, "down longer than the cycle: always down");
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
