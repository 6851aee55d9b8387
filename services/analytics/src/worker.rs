//! Running a worker process: its work plus `/healthz`, `/readyz` and `/metrics` on its own address, both
//! stopped by Ctrl-C or SIGTERM through one cancellation token.
//!
//! `/readyz` includes the worker's broker session as the worker itself reports it (`kit::health::Liveness`:
//! session running, and for the relay a loop that still turns over), read from memory: probes open no
//! broker connection of their own.

use kit::app::Application;
use kit::health::Liveness;
use kit::http::BaseState;
use kit::outbox::STALL_AFTER;
use tokio_util::sync::CancellationToken;

/// Serves the worker routes on `metrics_addr` while `work` runs; stops both on a signal.
pub async fn serve<F, Fut>(base: BaseState, metrics_addr: &str, work: F) -> anyhow::Result<()>
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let stop = CancellationToken::new();
    let liveness = Liveness::default();
    let base = base.with_ready("rabbitmq", liveness.ready_check(STALL_AFTER));
    let app = Application::bind(metrics_addr, kit::http::worker_router(base)).await?;
    let server = tokio::spawn(app.run_until_stopped(stop.clone().cancelled_owned()));
    let signal = {
        let stop = stop.clone();
        tokio::spawn(async move {
            kit::http::shutdown_signal().await;
            stop.cancel();
        })
    };
    let res = liveness.scope(work(stop.clone())).await;
    stop.cancel();
    signal.abort();
    let _ = server.await;
    res
}
