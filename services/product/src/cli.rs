//! `shoplab product`: the product API as a process of the lab.
//!
//! The `shoplab` binary parses its command line and calls [`run`]. Start-up lives here, in the library,
//! so the service is compiled once, in this crate, and the one binary that runs every process only
//! dispatches to it.

use clap::Args;
use kit::Config;
use kit::config::addr;

use crate::startup::{self, SERVICE};

/// Environment variables the product process reads (shown by `shoplab product --help`).
const ENV_HELP: &str = "\
Environment:
  PRODUCT_ADDR                  listen address (127.0.0.1:8081)
  PRODUCT_DB_POOL               Postgres connections (10)
  DATABASE_URL, REDIS_URL       Postgres and Redis (local defaults; also --database-url, --redis-url)
  SHOPLAB_REDIS_PREFIX          prefix of every Redis key (shoplab:)
  SHOPLAB_ADMIN_TOKEN           Bearer token for admin writes (unset: refused)
  OTEL_EXPORTER_OTLP_ENDPOINT   OTLP collector (unset: no export); OTEL_EXPORTER_OTLP_PROTOCOL,
                                OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_SCHEDULE_DELAY
  RUST_LOG                      log filter (info)";

/// Options of `shoplab product`.
#[derive(Args, Debug, Clone)]
#[command(after_help = ENV_HELP)]
pub struct ProductArgs {
    /// Listen address.
    #[arg(long, env = "PRODUCT_ADDR", default_value = addr::PRODUCT)]
    pub addr: String,
}

/// Serves the product API on `args.addr` until Ctrl-C or SIGTERM.
pub async fn run(config: Config, args: ProductArgs) -> anyhow::Result<()> {
    kit::supervise::run_process(SERVICE, Box::pin(serve(config, args))).await
}

async fn serve(config: Config, args: ProductArgs) -> anyhow::Result<()> {
    let app = startup::build(config, &args.addr).await?;
    app.run_until_stopped(kit::http::shutdown_signal()).await?;
    Ok(())
}
