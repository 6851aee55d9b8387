//! `analytics serve | relay | aggregator`: the API and its two workers.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kit::config::addr;

#[derive(Parser)]
#[command(name = "analytics", about = "shoplab case study 2: analytics API, outbox relay and aggregator")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The HTTP API (default).
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

#[tokio::main]
async fn main() -> ExitCode {
    kit::supervise::follow_supervisor();
    let command = Cli::parse().command.unwrap_or(Command::Serve { addr: kit::config::env_or("ANALYTICS_ADDR", addr::ANALYTICS) });
    let service = match &command {
        Command::Serve { .. } => analytics::startup::SERVICE,
        Command::Relay { .. } => analytics::relay::SERVICE,
        Command::Aggregator { .. } => analytics::aggregator::SERVICE,
    };
    let telemetry = kit::telemetry::init(service);
    let res = run(command).await;
    telemetry.shutdown().await;
    kit::deps::exit_on_error(res)
}

async fn run(command: Command) -> anyhow::Result<()> {
    let config = kit::Config::from_env();
    match command {
        Command::Serve { addr } => {
            let app = analytics::startup::build(config, &addr).await?;
            app.run_until_stopped(kit::http::shutdown_signal()).await?;
        }
        Command::Relay { metrics_addr } => {
            let relay = analytics::relay::RelayWorker::build(config).await?;
            analytics::worker::serve(relay.base(), &metrics_addr, |stop| relay.run(stop)).await?;
        }
        Command::Aggregator { metrics_addr, rebuild } => {
            let aggregator = analytics::aggregator::Aggregator::build(config).await?;
            if rebuild {
                aggregator.rebuild().await?;
            }
            analytics::worker::serve(aggregator.base(), &metrics_addr, |stop| aggregator.run(stop)).await?;
        }
    }
    Ok(())
}
