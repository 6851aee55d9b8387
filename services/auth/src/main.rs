//! `auth serve | relay | email-worker`: the auth API and its two background processes, in one binary.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kit::config::addr;

#[derive(Parser)]
#[command(name = "auth", about = "shoplab auth service (case study 3)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The HTTP API on AUTH_ADDR (default 127.0.0.1:8082).
    Serve,
    /// Publishes the auth outbox to RabbitMQ.
    Relay {
        /// Where /healthz, /readyz and /metrics are served.
        #[arg(long, env = "METRICS_ADDR", default_value = addr::AUTH_RELAY)]
        metrics_addr: String,
    },
    /// Sends verification emails from RabbitMQ, with retries and a dead-letter queue.
    EmailWorker {
        /// Where /healthz, /readyz and /metrics are served.
        #[arg(long, env = "METRICS_ADDR", default_value = addr::EMAIL_WORKER)]
        metrics_addr: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    kit::supervise::follow_supervisor();
    let cli = Cli::parse();
    let service = match cli.command {
        Command::Serve => auth::startup::SERVICE,
        Command::Relay { .. } => auth::relay::SERVICE,
        Command::EmailWorker { .. } => auth::worker::SERVICE,
    };
    let telemetry = kit::telemetry::init(service);
    let res = run(cli.command, service).await;
    telemetry.shutdown().await;
    kit::deps::exit_on_error(res)
}

async fn run(command: Command, service: &'static str) -> anyhow::Result<()> {
    let config = kit::Config::from_env();
    let settings = auth::Settings::from_env()?;
    match command {
        Command::Serve => {
            let addr = kit::config::env_or("AUTH_ADDR", addr::AUTH);
            let app = auth::build(config, settings, &addr).await?;
            app.run_until_stopped(kit::http::shutdown_signal()).await?;
        }
        Command::Relay { metrics_addr } => {
            let core = kit::app::Core::connect(service, config, settings.worker_pool).await?;
            let work = |stop| auth::relay::run(core.clone(), settings, stop);
            auth::workers::serve(&core, &metrics_addr, work).await?;
        }
        Command::EmailWorker { metrics_addr } => {
            let core = kit::app::Core::connect(service, config, settings.worker_pool).await?;
            let work = |stop| auth::worker::run(core.clone(), settings, stop);
            auth::workers::serve(&core, &metrics_addr, work).await?;
        }
    }
    Ok(())
}
