//! `email-provider`: serves the simulated email API on `EMAIL_PROVIDER_ADDR` (default 127.0.0.1:8090).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    kit::supervise::follow_supervisor();
    let telemetry = kit::telemetry::init(email_provider::startup::SERVICE);
    let res = run().await;
    telemetry.shutdown().await;
    kit::deps::exit_on_error(res)
}

async fn run() -> anyhow::Result<()> {
    let addr = kit::config::env_or("EMAIL_PROVIDER_ADDR", kit::config::addr::EMAIL_PROVIDER);
    let app = email_provider::build(kit::Config::from_env(), &addr).await?;
    app.run_until_stopped(kit::http::shutdown_signal()).await?;
    Ok(())
}
