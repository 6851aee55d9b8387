//! `shoplab analytics [serve] | relay | aggregator`: the analytics API and its two workers.
//!
//! The `shoplab` binary parses its command line and calls [`run`]. Start-up lives here, in the library,
//! so the service is compiled once, in this crate, and the one binary that runs every process only
//! dispatches to it. `shoplab analytics --help` (and each process's `--help`) lists every option with its
//! variable and default.

use clap::{Args, Subcommand};
use kit::Config;
use kit::config::{Connections, ServiceArgs, non_empty};

use crate::aggregator::Aggregator;
use crate::relay::RelayWorker;

/// Default local addresses of this service's processes (docs/architecture.md, "Processes").
pub mod addr {
    pub const ANALYTICS: &str = "127.0.0.1:8083";
    pub const ANALYTICS_RELAY: &str = "127.0.0.1:9103";
    pub const AGGREGATOR: &str = "127.0.0.1:9104";
}

/// Options of `shoplab analytics`: a process, `serve` when none is named.
#[derive(Args, Debug, Clone)]
#[command(after_help = kit::config::LIBRARY_ENV)]
pub struct AnalyticsArgs {
    /// Listen address of `serve` (also when no process is named).
    #[arg(long, env = "ANALYTICS_ADDR", default_value = addr::ANALYTICS, value_parser = non_empty())]
    pub addr: String,
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(subcommand)]
    pub command: Option<AnalyticsCommand>,
}

/// The processes of `shoplab analytics`.
#[derive(Subcommand, Debug, Clone)]
pub enum AnalyticsCommand {
    /// The HTTP API: event ingest and dashboards (the default; listens on --addr / ANALYTICS_ADDR).
    Serve,
    /// Publishes accepted event batches from analytics.outbox to RabbitMQ.
    Relay {
        /// Where /healthz, /readyz and /metrics are served.
        #[arg(long, env = "METRICS_ADDR", default_value = addr::ANALYTICS_RELAY, value_parser = non_empty())]
        metrics_addr: String,
    },
    /// Consumes event batches into the Redis buckets (backfilled from Postgres on first start).
    Aggregator {
        /// Where /healthz, /readyz and /metrics are served.
        #[arg(long, env = "METRICS_ADDR", default_value = addr::AGGREGATOR, value_parser = non_empty())]
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
            Self::Serve => crate::startup::SERVICE,
            Self::Relay { .. } => crate::relay::SERVICE,
            Self::Aggregator { .. } => crate::aggregator::SERVICE,
        }
    }
}

/// Runs one analytics process until Ctrl-C or SIGTERM.
pub async fn run(connections: Connections, args: AnalyticsArgs) -> anyhow::Result<()> {
    let command = args.command.clone().unwrap_or(AnalyticsCommand::Serve);
    let config = Config::new(connections, args.service);
    kit::supervise::run_process(command.service(), Box::pin(serve(config, args.addr, command))).await
}

async fn serve(config: Config, addr: String, command: AnalyticsCommand) -> anyhow::Result<()> {
    match command {
        AnalyticsCommand::Serve => {
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
