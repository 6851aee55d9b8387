//! `shoplab email-provider`: the simulated email API as a process of the lab.
//!
//! The `shoplab` binary parses its command line and calls [`run`]. Start-up lives here, in the library,
//! so the service is compiled once, in this crate, and the one binary that runs every process only
//! dispatches to it.

use clap::Args;
use kit::Config;
use kit::config::addr;

use crate::startup::{self, SERVICE};

/// Environment variables the provider reads (shown by `shoplab email-provider --help`).
const ENV_HELP: &str = "\
Environment:
  EMAIL_PROVIDER_ADDR           listen address (127.0.0.1:8090)
  DATABASE_URL                  Postgres, for the emailprovider.* flags (also --database-url)
  SHOPLAB_ADMIN_TOKEN           Bearer token for admin writes (unset: refused)
  OTEL_EXPORTER_OTLP_ENDPOINT   OTLP collector (unset: no export); OTEL_EXPORTER_OTLP_PROTOCOL,
                                OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_SCHEDULE_DELAY
  RUST_LOG                      log filter (info)
Latency, errors and outages are flags (emailprovider.*), not variables: see `shoplab flags list`.";

/// Options of `shoplab email-provider`.
#[derive(Args, Debug, Clone)]
#[command(after_help = ENV_HELP)]
pub struct ProviderArgs {
    /// Listen address.
    #[arg(long, env = "EMAIL_PROVIDER_ADDR", default_value = addr::EMAIL_PROVIDER)]
    pub addr: String,
}

/// Serves the simulated provider on `args.addr` until Ctrl-C or SIGTERM.
pub async fn run(config: Config, args: ProviderArgs) -> anyhow::Result<()> {
    kit::supervise::run_process(SERVICE, Box::pin(serve(config, args))).await
}

async fn serve(config: Config, args: ProviderArgs) -> anyhow::Result<()> {
    let app = startup::build(config, &args.addr).await?;
    app.run_until_stopped(kit::http::shutdown_signal()).await?;
    Ok(())
}
