//! Running a worker process: its work plus `/healthz`, `/readyz` and `/metrics` on its own address, both
//! stopped by Ctrl-C or SIGTERM through one cancellation token.

use kit::app::Application;
use kit::http::BaseState;
use tokio_util::sync::CancellationToken;

/// Serves the worker routes on `metrics_addr` while `work` runs; stops both on a signal.
pub async fn serve<F, Fut>(base: BaseState, metrics_addr: &str, work: F) -> anyhow::Result<()>
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let stop = CancellationToken::new();
    let app = Application::bind(metrics_addr, kit::http::worker_router(base)).await?;
    let server = tokio::spawn(app.run_until_stopped(stop.clone().cancelled_owned()));
    let signal = {
        let stop = stop.clone();
        tokio::spawn(async move {
            kit::http::shutdown_signal().await;
            stop.cancel();
        })
    };
    let res = work(stop.clone()).await;
    stop.cancel();
    signal.abort();
    let _ = server.await;
    res
}
