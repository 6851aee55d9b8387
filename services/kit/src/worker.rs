//! The one harness of every worker process (outbox relays, queue consumers): what a process without an
//! API needs around its work.
//!
//! - [`serve`]: `/healthz`, `/readyz` and `/metrics` on the worker's metrics address while the work runs,
//!   until Ctrl-C or SIGTERM ([`crate::http::shutdown_signal`]); then the [drain policy](DRAIN).
//! - [`keep_running`]: the reconnect loop. A session (one broker connection's worth of work) that fails is
//!   logged in one line and started again after a back-off that doubles from 1 s up to 8 s, and starts
//!   again from 1 s once a session lived longer than that.
//!
//! `/readyz` includes the worker's broker session as the worker itself reports it ([`Liveness`]: session
//! running, and for a loop that beats, such as the outbox relay, a loop that still turns over), read from
//! memory: an orchestrator probing every few seconds opens no broker connection.
//!
//! The drain policy is one for every worker: on the signal the work's token is cancelled, the work stops
//! taking new messages and gets [`DRAIN`] to finish what it holds; past the deadline it is dropped. Nothing
//! is lost either way: a consumer acknowledges a message only once it is done with it (the broker
//! redelivers the rest) and a relay's leased rows are published by the next relay when the lease runs out.
//!
//! The work takes a `CancellationToken` and owns every connection it opens, so a test can run it as a task
//! and abort it mid-batch — the in-process stand-in for `kill -9` — then start another.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::app::Application;
use crate::health::Liveness;
use crate::http::BaseState;

/// How long a stopping worker gets to finish what it holds before it is dropped.
pub const DRAIN: Duration = Duration::from_secs(10);
/// A worker whose loop beats ([`Liveness::beat`]) and has not completed a round for this long is reported
/// stalled by `/readyz`.
pub const STALL_AFTER: Duration = Duration::from_secs(15);
/// First pause before reconnecting after a failure.
const RECONNECT_FIRST: Duration = Duration::from_secs(1);
/// Longest pause between reconnection attempts.
const RECONNECT_MAX: Duration = Duration::from_secs(8);

/// Serves the worker routes of `base` on `metrics_addr` while `work` runs; on Ctrl-C or SIGTERM cancels
/// the work and drains it (at most [`DRAIN`]).
pub async fn serve<F, Fut>(base: BaseState, metrics_addr: &str, work: F) -> anyhow::Result<()>
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    serve_until(base, metrics_addr, crate::http::shutdown_signal(), DRAIN, work).await
}

/// [`serve`] with the stop signal and the drain deadline given (tests stop a worker without a signal).
pub async fn serve_until<F, Fut>(
    base: BaseState,
    metrics_addr: &str,
    signal: impl Future<Output = ()>,
    drain: Duration,
    work: F,
) -> anyhow::Result<()>
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let liveness = Liveness::default();
    let base = base.with_ready("rabbitmq", liveness.ready_check(STALL_AFTER));
    let app = Application::bind(metrics_addr, crate::http::worker_router(base)).await?;
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(stop.clone().cancelled_owned()));
    let res = run_and_drain(liveness.scope(work(stop.clone())), signal, &stop, drain).await;
    stop.cancel();
    let _ = server.await;
    res
}

/// Runs `work` until it ends, or until `signal`; then cancels `stop` and gives the work `drain` to end.
async fn run_and_drain(
    work: impl Future<Output = anyhow::Result<()>>,
    signal: impl Future<Output = ()>,
    stop: &CancellationToken,
    drain: Duration,
) -> anyhow::Result<()> {
    tokio::pin!(work);
    tokio::select! {
        res = &mut work => res,
        _ = signal => {
            stop.cancel();
            match tokio::time::timeout(drain, &mut work).await {
                Ok(res) => res,
                Err(_) => {
                    tracing::warn!(event = "drain_deadline", secs = drain.as_secs(), "work still running: dropped");
                    Ok(())
                }
            }
        }
    }
}

/// Runs `session` until `stop`: when one fails (broker gone, connection reset) logs the one line that says
/// so, reports it to the worker's [`Liveness`], waits (1 s, doubling up to 8 s) and starts a new one. A
/// session that returns `Ok` ends the loop (it returns when `stop` is cancelled).
pub async fn keep_running<F, Fut>(what: &'static str, stop: &CancellationToken, mut session: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let liveness = Liveness::current();
    let mut failures = 0;
    while !stop.is_cancelled() {
        liveness.session_started();
        let started = Instant::now();
        let Err(e) = session().await else { return };
        let error = format!("{e:#}");
        liveness.session_failed(&error);
        failures = if started.elapsed() > RECONNECT_MAX { 1 } else { failures + 1 };
        let pause = backoff(failures);
        tracing::warn!(event = "session_failed", worker = what, error = %error, retry_ms = pause.as_millis() as u64, "reconnecting");
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// The pause after the `failures`-th short-lived session in a row (1, 2, ...).
fn backoff(failures: u32) -> Duration {
    RECONNECT_FIRST.saturating_mul(1 << failures.saturating_sub(1).min(8)).min(RECONNECT_MAX)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn the_pause_doubles_up_to_its_cap() {
        let pauses: Vec<u64> = (1..=6).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 8, 8]);
        assert_eq!(backoff(u32::MAX), RECONNECT_MAX);
    }

    /// Work that finishes within the deadline is awaited; work that ignores the cancellation is dropped
    /// at the deadline, not waited for.
    #[tokio::test]
    async fn drain_waits_for_the_work_at_most_the_deadline() {
        const DEADLINE: Duration = Duration::from_millis(300);
        let finished = Arc::new(AtomicUsize::new(0));
        // cumulative count of works that ran to their end
        for (needs, drained) in [(Duration::from_millis(50), 1), (Duration::from_secs(30), 1)] {
            let (stop, done) = (CancellationToken::new(), finished.clone());
            let token = stop.clone();
            let work = async move {
                token.cancelled().await;
                tokio::time::sleep(needs).await;
                done.fetch_add(1, Ordering::SeqCst);
                Ok(())
            };
            let started = tokio::time::Instant::now();
            run_and_drain(work, async {}, &stop, DEADLINE).await.unwrap();
            assert!(stop.is_cancelled());
            assert_eq!(finished.load(Ordering::SeqCst), drained, "work needing {needs:?}");
            assert!(started.elapsed() < DEADLINE * 3, "waited {:?}", started.elapsed());
        }
    }

    /// A failing session is reported to the liveness and started again after the first pause; an `Ok`
    /// ends the loop.
    #[tokio::test]
    async fn a_failed_session_is_reported_and_restarted() {
        let (stop, calls) = (CancellationToken::new(), AtomicUsize::new(0));
        let liveness = Liveness::default();
        let session = || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => anyhow::bail!("connection reset"),
                _ => Ok(()),
            }
        };
        let started = Instant::now();
        liveness.clone().scope(keep_running("test", &stop, session)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(started.elapsed() >= RECONNECT_FIRST, "restarted after {:?}", started.elapsed());
        let err = liveness.check(STALL_AFTER).unwrap_err();
        assert!(err.contains("connection reset"), "a fresh failure keeps the worker unready: {err}");
    }
}
