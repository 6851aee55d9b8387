//! `shoplab analytics [serve] | relay | aggregator`: the analytics API and its two workers.
//!
//! The `shoplab` binary parses its command line and calls [`run`]. Start-up lives here, in the library,
//! so the service is compiled once, in this crate, and the one binary that runs every process only
//! dispatches to it.

use clap::{Args, Subcommand};
use kit::Config;
use kit::config::addr;

use crate::aggregator::Aggregator;
use crate::relay::RelayWorker;

/// Environment variables the analytics processes read (shown by `shoplab analytics --help`).
const ENV_HELP: &str = "\
Environment:
  ANALYTICS_ADDR                listen address of `serve` (127.0.0.1:8083)
  METRICS_ADDR                  /healthz, /readyz, /metrics of `relay` (:9103) and `aggregator` (:9104)
  DATABASE_URL, REDIS_URL, AMQP_URL   Postgres, Redis, RabbitMQ (local defaults; also --database-url, ...)
  SHOPLAB_REDIS_PREFIX, SHOPLAB_AMQP_PREFIX   prefixes of Redis keys and RabbitMQ names (shoplab)
  SHOPLAB_ADMIN_TOKEN           Bearer token for admin writes (unset: refused)
  OTEL_EXPORTER_OTLP_ENDPOINT   OTLP collector (unset: no export); OTEL_EXPORTER_OTLP_PROTOCOL,
                                OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_SCHEDULE_DELAY
  RUST_LOG                      log filter (info)";

/// Options of `shoplab analytics`: a process, `serve` when none is named.
#[derive(Args, Debug, Clone)]
#[command(after_help = ENV_HELP)]
pub struct AnalyticsArgs {
    #[command(subcommand)]
    pub command: Option<AnalyticsCommand>,
}

/// The processes of `shoplab analytics`.
#[derive(Subcommand, Debug, Clone)]
pub enum AnalyticsCommand {
    /// The HTTP API: event ingest and dashboards (the default).
    Serve {
        /// Listen address.
        #[arg(long, env = "ANALYTICS_ADDR", default_value = addr::ANALYTICS)]
        addr: String,
    },
    /// Publishes accepted event batches from analytics.outbox to RabbitMQ.
    Relay {
        /// Where /healthz, /readyz and /metrics are served.
        #[arg(long, env = "METRICS_ADDR", default_value = addr::ANALYTICS_RELAY)]
        metrics_addr: String,
    },
    /// Consumes event batches into the Redis buckets (backfilled from Postgres on first start).
    Aggregator {
        /// Where /healthz, /readyz and /metrics are served.
        #[arg(long, env = "METRICS_ADDR", default_value = addr::AGGREGATOR)]
        metrics_addr: String,
        /// Forget the pre-aggregates first, so they are rebuilt from Postgres (`shoplab seed` does this by
        /// itself when it reloads the events; running aggregators notice and rebuild within seconds).
        #[arg(long)]
        rebuild: bool,
    },
}

impl AnalyticsCommand {
    /// The name of the process in traces, metrics and logs.
    pub fn service(&self) -> &'static str {
        match self {
            Self::Serve { .. } => crate::startup::SERVICE,
            Self::Relay { .. } => crate::relay::SERVICE,
            Self::Aggregator { .. } => crate::aggregator::SERVICE,
        }
    }
}

/// Runs one analytics process until Ctrl-C or SIGTERM.
pub async fn run(config: Config, args: AnalyticsArgs) -> anyhow::Result<()> {
    let default = || AnalyticsCommand::Serve { addr: kit::config::env_or("ANALYTICS_ADDR", addr::ANALYTICS) };
    let command = args.command.unwrap_or_else(default);
    kit::supervise::run_process(command.service(), Box::pin(serve(config, command))).await
}

async fn serve(config: Config, command: AnalyticsCommand) -> anyhow::Result<()> {
    match command {
        AnalyticsCommand::Serve { addr } => {
            let app = crate::startup::build(config, &addr).await?;
            app.run_until_stopped(kit::http::shutdown_signal()).await?;
        }
        AnalyticsCommand::Relay { metrics_addr } => {
            let relay = RelayWorker::build(config).await?;
            kit::worker::serve(relay.base(), &metrics_addr, |stop| relay.run(stop)).await?;
        }
        AnalyticsCommand::Aggregator { metrics_addr, rebuild } => {
            let aggregator = Aggregator::build(config).await?;
            if rebuild {
                aggregator.rebuild().await?;
            }
            kit::worker::serve(aggregator.base(), &metrics_addr, |stop| aggregator.run(stop)).await?;
        }
    }
    Ok(())
}
