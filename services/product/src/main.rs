//! `product`: serves the product API (case study 1).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    kit::supervise::follow_supervisor();
    let telemetry = kit::telemetry::init(product::startup::SERVICE);
    let res = run().await;
    telemetry.shutdown().await;
    kit::deps::exit_on_error(res)
}

async fn run() -> anyhow::Result<()> {
    let addr = kit::config::env_or("PRODUCT_ADDR", kit::config::addr::PRODUCT);
    let app = product::startup::build(kit::Config::from_env(), &addr).await?;
    app.run_until_stopped(kit::http::shutdown_signal()).await?;
    Ok(())
}
