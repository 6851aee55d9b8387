//! Readiness that tells the truth without costing anything: what `/readyz` checks.
//!
//! - [`postgres`] answers on a connection of its own, not one from the pool: a saturated pool (every
//!   connection busy, or held by the flag listener in a small worker pool) must not make a probe wait
//!   for the acquire timeout and report the database down, nor must probes take connections requests need.
//! - [`Liveness`] is what a worker (relay, consumer) reports about itself: whether its broker session is
//!   running and, for loops that should turn over regularly (the outbox relay), whether they still do.
//!   A probe reads it from memory, so an orchestrator polling every few seconds never opens a broker
//!   connection of its own.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

use crate::http::ReadyCheck;

/// How long a readiness query may take before the database counts as unavailable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// A session that failed this recently is not ready, even while its replacement is connecting.
const FAILURE_MEMORY: Duration = Duration::from_secs(3);

/// A Postgres readiness check on its own lazily opened connection (re-opened after any failure).
pub fn postgres(pool: &PgPool) -> ReadyCheck {
    let opts: PgConnectOptions = (*pool.connect_options()).clone();
    let conn: Arc<tokio::sync::Mutex<Option<PgConnection>>> = Arc::default();
    Arc::new(move || {
        let (opts, conn) = (opts.clone(), conn.clone());
        Box::pin(async move {
            let mut slot = conn.lock().await;
            let res = tokio::time::timeout(PROBE_TIMEOUT, probe(&opts, &mut slot)).await;
            let res = res.unwrap_or_else(|_| Err("no answer within 2 s".to_owned()));
            if res.is_err() {
                *slot = None;
            }
            res
        })
    })
}

async fn probe(opts: &PgConnectOptions, slot: &mut Option<PgConnection>) -> Result<(), String> {
    if slot.is_none() {
        *slot = Some(opts.connect().await.map_err(|e| e.to_string())?);
    }
    let conn = slot.as_mut().expect("connection just opened");
    conn.ping().await.map_err(|e| e.to_string())
}

/// What a worker's probe reports: its session state and, optionally, how recently its loop turned over.
#[derive(Clone, Default)]
pub struct Liveness {
    /// Shared between the worker (writer) and the `/readyz` check (reader).
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// A broker session is running (set when one starts, cleared when it fails).
    running: bool,
    /// When the last session failed, and why.
    failed: Option<(Instant, String)>,
    /// When the worker's loop last completed a round ([`Liveness::beat`]); `None` = never beats.
    beat: Option<Instant>,
}

tokio::task_local! {
    static CURRENT: Liveness;
}

impl Liveness {
    /// Runs `fut` with `self` as the [`Liveness::current`] of everything it awaits, so code deep in a
    /// worker reports without a handle being threaded through every signature.
    pub async fn scope<F: Future>(self, fut: F) -> F::Output {
        CURRENT.scope(self, fut).await
    }

    /// The liveness of the running worker, or a detached one (reports go nowhere) outside a scope.
    pub fn current() -> Self {
        CURRENT.try_with(Clone::clone).unwrap_or_default()
    }

    /// A broker session started.
    pub fn session_started(&self) {
        let mut s = self.lock();
        s.running = true;
        s.beat = s.beat.map(|_| Instant::now());
    }

    /// The broker session failed with `error`; a new one will be tried.
    pub fn session_failed(&self, error: &str) {
        let mut s = self.lock();
        s.running = false;
        s.failed = Some((Instant::now(), error.chars().take(200).collect()));
    }

    /// The worker's loop completed a round (a relay batch, even an empty one).
    pub fn beat(&self) {
        self.lock().beat = Some(Instant::now());
    }

    /// Ready when a session runs, none failed in the last few seconds and, for a beating worker, the last
    /// beat is younger than `stall_after`.
    pub fn check(&self, stall_after: Duration) -> Result<(), String> {
        let s = self.lock();
        if let Some((at, why)) = &s.failed
            && at.elapsed() < FAILURE_MEMORY
        {
            return Err(format!("session failed {} ms ago: {why}", at.elapsed().as_millis()));
        }
        if !s.running {
            return Err("no broker session is running".to_owned());
        }
        match s.beat {
            Some(at) if at.elapsed() > stall_after => Err(format!("stalled: no progress for {} s", at.elapsed().as_secs())),
            _ => Ok(()),
        }
    }

    /// [`Liveness::check`] as a `/readyz` check.
    pub fn ready_check(&self, stall_after: Duration) -> ReadyCheck {
        let me = self.clone();
        Arc::new(move || {
            let res = me.check(stall_after);
            Box::pin(async move { res })
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALL: Duration = Duration::from_millis(50);

    #[test]
    fn ready_only_while_a_session_runs() {
        let l = Liveness::default();
        assert!(l.check(STALL).is_err(), "nothing started yet");
        l.session_started();
        assert_eq!(l.check(STALL), Ok(()));
        l.session_failed("connection reset");
        let err = l.check(STALL).unwrap_err();
        assert!(err.contains("connection reset"), "{err}");
    }

    #[test]
    fn a_beating_worker_that_stops_beating_is_stalled() {
        let l = Liveness::default();
        l.session_started();
        l.beat();
        assert_eq!(l.check(STALL), Ok(()));
        std::thread::sleep(STALL * 2);
        assert!(l.check(STALL).unwrap_err().starts_with("stalled"));
        l.beat();
        assert_eq!(l.check(STALL), Ok(()));
    }
}
