//! A small circuit breaker: closed -> open -> half-open -> closed, with the book's parameters.
//!
//! The pure [`Breaker`] takes the time as an argument, so its transitions are unit-tested without
//! sleeping. [`SharedBreaker`] puts it behind a mutex for a process, applies the call timeout, exports
//! `shoplab_circuit_breaker_state{dependency="email-provider"}` (0 closed, 1 half-open, 2 open) and keeps
//! the last transitions for `GET /admin/flags` (`status.email_breaker`).
//!
//! - closed: calls go through; outcomes land in a rolling window. When the window holds at least
//!   `min_calls` outcomes and the failure share reaches `failure_rate`, the breaker opens.
//! - open: calls fail at once (short-circuited) for `open_for`.
//! - half-open: the next `half_open_probes` calls are let through as probes and judged by the same
//!   `failure_rate`: as soon as enough have succeeded that the probes' failure share must stay below it ->
//!   closed; as soon as enough have failed that it cannot -> open again (with 1 probe: it decides alone).
//!   Further calls fail fast while the probes are out. A provider failing less than `failure_rate`
//!   therefore closes the breaker as it would keep it closed, instead of needing a lucky run of successes.
//!
//! The open -> half-open step happens at the first call after `open_for`, so an idle breaker shows
//! "open" until something tries again.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kit::metrics::Metrics;
use serde::Serialize;

use crate::metrics::{AuthMetrics, DependencyLabels};

/// The dependency label of the email breaker's metrics.
pub const DEPENDENCY: &str = "email-provider";
/// Transitions kept for the status page.
const LOG_LEN: usize = 50;
/// How often a caller waiting in [`SharedBreaker::ready`] looks again while half-open probes are out.
const PROBE_POLL: Duration = Duration::from_millis(100);

/// The breaker's parameters (book: 5 s timeout, opens at 50 % errors, 30 s recovery).
#[derive(Clone, Copy, Debug)]
pub struct BreakerConfig {
    /// Longest a call may take; a slower call counts as a failure.
    pub timeout: Duration,
    /// Failure share (0..1) over the window at which the breaker opens.
    pub failure_rate: f64,
    /// Length of the rolling window of outcomes.
    pub window: Duration,
    /// Fewest outcomes in the window before the rate is trusted (minimum volume).
    pub min_calls: u32,
    /// How long the breaker stays open before probing.
    pub open_for: Duration,
    /// Calls let through while half-open to decide between closed and open again.
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            failure_rate: 0.5,
            window: Duration::from_secs(10),
            min_calls: 20,
            open_for: Duration::from_secs(30),
            half_open_probes: 5,
        }
    }
}

/// Where the breaker is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Closed,
    HalfOpen,
    Open,
}

impl State {
    /// The value of the gauge `shoplab_circuit_breaker_state` (docs/architecture.md, "Metrics").
    pub fn gauge(self) -> i64 {
        match self {
            State::Closed => 0,
            State::HalfOpen => 1,
            State::Open => 2,
        }
    }
}

/// Permission to make one call; hand it back with the outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permit {
    /// An ordinary call while closed.
    Normal,
    /// A trial call while half-open.
    Probe,
}

/// The state machine (not thread-safe; see [`SharedBreaker`]).
#[derive(Debug)]
pub struct Breaker {
    cfg: BreakerConfig,
    state: State,
    /// When the open state ends.
    open_until: Option<Instant>,
    /// Probes handed out and not yet reported (half-open).
    probes_out: u32,
    /// Probes that succeeded (half-open).
    probes_ok: u32,
    /// Probes that failed (half-open).
    probes_failed: u32,
    /// Outcomes in the window while closed: (when, succeeded).
    window: VecDeque<(Instant, bool)>,
}

impl Breaker {
    pub fn new(cfg: BreakerConfig) -> Self {
        Self {
            cfg,
            state: State::Closed,
            open_until: None,
            probes_out: 0,
            probes_ok: 0,
            probes_failed: 0,
            window: VecDeque::new(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// A permit for a call at `now`, or `None` to fail fast. May move open -> half-open.
    pub fn try_acquire(&mut self, now: Instant) -> Option<Permit> {
        if self.state == State::Open && self.open_until.is_some_and(|t| now >= t) {
            self.enter(State::HalfOpen);
        }
        match self.state {
            State::Closed => Some(Permit::Normal),
            State::Open => None,
            State::HalfOpen if self.probes_handed_out() < self.cfg.half_open_probes.max(1) => {
                self.probes_out += 1;
                Some(Permit::Probe)
            }
            State::HalfOpen => None,
        }
    }

    /// How long until a call could get a permit, or `None` if one would get it now. Half-open with every
    /// probe out, the answer is a short poll: the probes decide what comes next.
    pub fn permit_in(&self, now: Instant) -> Option<Duration> {
        match self.state {
            State::Closed => None,
            State::Open => self.open_until.and_then(|t| t.checked_duration_since(now)).filter(|d| !d.is_zero()),
            State::HalfOpen if self.probes_handed_out() < self.cfg.half_open_probes.max(1) => None,
            State::HalfOpen => Some(PROBE_POLL),
        }
    }

    /// Reports a call's outcome; returns the new state if it changed.
    pub fn record(&mut self, permit: Permit, ok: bool, now: Instant) -> Option<State> {
        let before = self.state;
        match (permit, self.state) {
            (Permit::Normal, State::Closed) => self.record_closed(ok, now),
            (Permit::Probe, State::HalfOpen) => {
                self.probes_out = self.probes_out.saturating_sub(1);
                if ok {
                    self.probes_ok += 1
                } else {
                    self.probes_failed += 1
                }
                let probes = self.cfg.half_open_probes.max(1);
                // most failures the probes may have and still stay below the failure rate
                let tolerated = ((self.cfg.failure_rate * f64::from(probes)).ceil() as u32).saturating_sub(1);
                if self.probes_failed > tolerated {
                    self.open(now);
                } else if self.probes_ok >= probes - tolerated {
                    self.enter(State::Closed);
                }
            }
            // a call that started in an earlier state no longer says anything about this one
            _ => {}
        }
        (self.state != before).then_some(self.state)
    }

    fn probes_handed_out(&self) -> u32 {
        self.probes_out + self.probes_ok + self.probes_failed
    }

    fn record_closed(&mut self, ok: bool, now: Instant) {
        self.window.push_back((now, ok));
        while self.window.front().is_some_and(|(t, _)| now.duration_since(*t) > self.cfg.window) {
            self.window.pop_front();
        }
        let calls = self.window.len();
        let failures = self.window.iter().filter(|(_, ok)| !ok).count();
        if calls >= self.cfg.min_calls as usize && failures as f64 >= self.cfg.failure_rate * calls as f64 {
            self.open(now);
        }
    }

    fn open(&mut self, now: Instant) {
        self.open_until = Some(now + self.cfg.open_for);
        self.enter(State::Open);
    }

    fn enter(&mut self, state: State) {
        self.state = state;
        self.window.clear();
        self.probes_out = 0;
        self.probes_ok = 0;
        self.probes_failed = 0;
    }
}

/// Why a guarded call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum Rejected<E> {
    /// The breaker is open (or its probes are out): the call was not made.
    #[error("circuit open: call not attempted")]
    Open,
    /// The call took longer than the breaker's timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The call itself failed.
    #[error(transparent)]
    Failed(E),
}

/// One transition, for the status page.
#[derive(Clone, Debug, Serialize)]
pub struct Transition {
    pub at: DateTime<Utc>,
    pub from: State,
    pub to: State,
}

/// A process-wide breaker with its timeout, gauge and transition log.
pub struct SharedBreaker {
    inner: Mutex<(Breaker, VecDeque<Transition>)>,
    timeout: Duration,
    metrics: Metrics,
}

impl SharedBreaker {
    pub fn new(cfg: BreakerConfig, metrics: Metrics) -> Self {
        let me = Self { inner: Mutex::new((Breaker::new(cfg), VecDeque::new())), timeout: cfg.timeout, metrics };
        me.export(State::Closed);
        me
    }

    /// Runs `call` if the breaker allows it, within the timeout, and records the outcome.
    ///
    /// The permit lives in a [`Held`] guard: if this future is dropped mid-call (axum drops a handler
    /// whose client disconnected), the guard's `Drop` reports the call, so a half-open probe slot is
    /// never lost. A cancelled probe counts as a failure (it proved nothing); a cancelled ordinary call
    /// is not counted (the caller left, the provider said nothing).
    pub async fn call<T, E, F>(&self, call: F) -> Result<T, Rejected<E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        let permit = self.with(|b| b.try_acquire(Instant::now())).ok_or(Rejected::Open)?;
        let mut held = Held { breaker: self, permit: Some(permit) };
        let res = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Rejected::Failed(e)),
            Err(_) => Err(Rejected::Timeout(self.timeout)),
        };
        held.report(res.is_ok());
        res
    }

    /// Waits until the breaker would let a call through (at once when closed). For callers with no one
    /// waiting on them, such as the email worker: holding a message is better than spending its retries
    /// on calls the breaker refuses. Another caller may still take the permit first: `call` can refuse.
    pub async fn ready(&self) {
        loop {
            let wait = self.inner.lock().expect("breaker poisoned").0.permit_in(Instant::now());
            match wait {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return,
            }
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.inner.lock().expect("breaker poisoned").0.state()
    }

    /// State and recent transitions, for `GET /admin/flags`.
    pub fn status(&self) -> serde_json::Value {
        let inner = self.inner.lock().expect("breaker poisoned");
        serde_json::json!({ "state": inner.0.state(), "transitions": inner.1 })
    }

    /// Runs `f` on the state machine, logging and exporting any transition it causes.
    fn with<R>(&self, f: impl FnOnce(&mut Breaker) -> R) -> R {
        let mut inner = self.inner.lock().expect("breaker poisoned");
        let before = inner.0.state();
        let out = f(&mut inner.0);
        let after = inner.0.state();
        if after != before {
            if inner.1.len() == LOG_LEN {
                inner.1.pop_front();
            }
            inner.1.push_back(Transition { at: Utc::now(), from: before, to: after });
            tracing::info!(event = "breaker_transition", dependency = DEPENDENCY, from = ?before, to = ?after);
            self.export(after);
        }
        out
    }

    fn export(&self, state: State) {
        AuthMetrics::of(&self.metrics)
            .breaker_state
            .get_or_create(&DependencyLabels { dependency: DEPENDENCY })
            .set(state.gauge());
    }
}

/// A permit handed out by [`SharedBreaker::call`], reported exactly once: with the call's outcome, or
/// by `Drop` when the call was cancelled.
struct Held<'a> {
    breaker: &'a SharedBreaker,
    /// `None` once reported.
    permit: Option<Permit>,
}

impl Held<'_> {
    fn report(&mut self, ok: bool) {
        if let Some(permit) = self.permit.take() {
            self.breaker.with(|b| b.record(permit, ok, Instant::now()));
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // cancelled before an outcome: a probe counts as failed, an ordinary call is forgotten
        if self.permit == Some(Permit::Probe) {
            self.report(false);
        }
    }
}

#[cfg(test)]
#[path = "breaker_tests.rs"]
mod tests;
