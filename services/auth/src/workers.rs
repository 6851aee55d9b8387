//! What `auth relay` and `auth email-worker` share: staying up across broker and database restarts,
//! and serving `/healthz`, `/readyz` and `/metrics` on their own address so Prometheus scrapes them.
//!
//! `/readyz` reads the worker's [`Liveness`] — whether its broker session runs, and for the relay whether
//! its loop still turns over — from memory: a probe every few seconds opens no broker connection.
//!
//! The run functions take a `CancellationToken` and own every connection they open, so a test can run
//! them as tasks and abort one mid-batch — the in-process stand-in for `kill -9` — then start another.

use std::sync::Arc;
use std::time::Duration;

use kit::app::{Application, Core};
use kit::health::Liveness;
use kit::http::ReadyCheck;
use kit::outbox::STALL_AFTER;
use tokio_util::sync::CancellationToken;

/// Pause before reconnecting after a failure.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);
/// How long a stopping worker gets to finish what it holds.
const DRAIN: Duration = Duration::from_secs(10);

/// Runs `session` until `stop`; when it fails (broker gone, connection reset) logs the one line that
/// says so, waits a second and starts a new session.
pub async fn keep_running<F, Fut>(what: &'static str, stop: &CancellationToken, mut session: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let liveness = Liveness::current();
    while !stop.is_cancelled() {
        liveness.session_started();
        match session().await {
            Ok(()) => return,
            Err(e) => {
                let error = format!("{e:#}");
                liveness.session_failed(&error);
                tracing::warn!(event = "session_failed", worker = what, error = %error, "reconnecting");
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(RECONNECT_AFTER) => {}
        }
    }
}

/// A readiness check that opens (and closes) a RabbitMQ connection: for one-off checks (`doctor`-like
/// tools). Worker processes report their [`Liveness`] instead, which costs the broker nothing per probe.
pub fn rabbitmq_ready(url: String) -> ReadyCheck {
    Arc::new(move || {
        let url = url.clone();
        Box::pin(async move {
            let conn = kit::amqp::connect(&url).await.map_err(|e| e.to_string())?;
            let _ = conn.close(200, "readiness check".into()).await;
            Ok(())
        })
    })
}

/// Serves the worker routes on `metrics_addr` while `work` runs; stops both on Ctrl-C / SIGTERM.
pub async fn serve<Fut>(core: &Core, metrics_addr: &str, work: impl FnOnce(CancellationToken) -> Fut) -> anyhow::Result<()>
where
    Fut: Future<Output = anyhow::Result<()>>,
{
    let liveness = Liveness::default();
    let base = core.base().with_ready("rabbitmq", liveness.ready_check(STALL_AFTER));
    let app = Application::bind(metrics_addr, kit::http::worker_router(base)).await?;
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(stop.clone().cancelled_owned()));
    let work = liveness.scope(work(stop.clone()));
    tokio::pin!(work);
    let res = tokio::select! {
        res = &mut work => res,
        _ = kit::http::shutdown_signal() => {
            stop.cancel();
            tokio::time::timeout(DRAIN, &mut work).await.unwrap_or(Ok(()))
        }
    };
    stop.cancel();
    let _ = server.await;
    res
}
