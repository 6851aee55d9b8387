//! `shoplab auth serve | relay | email-worker`: the auth API and its two background processes.
//!
//! The `shoplab` binary parses its command line and calls [`run`]. Start-up lives here, in the library,
//! so the service is compiled once, in this crate, and the one binary that runs every process only
//! dispatches to it. `shoplab auth --help` lists every option with its variable and default (the tuning
//! ones are explained in docs/case-study-3.md).

use clap::{Args, Subcommand};
use kit::Config;
use kit::app::Core;
use kit::config::{Connections, ServiceArgs, non_empty};

use crate::settings::SettingsArgs;

/// Default local addresses of this service's processes (docs/architecture.md, "Processes").
pub mod addr {
    pub const AUTH: &str = "127.0.0.1:8082";
    pub const AUTH_RELAY: &str = "127.0.0.1:9101";
    pub const EMAIL_WORKER: &str = "127.0.0.1:9102";
}

/// Options of `shoplab auth`, shared by its three processes, and the process to run.
#[derive(Args, Debug, Clone)]
#[command(after_help = kit::config::LIBRARY_ENV)]
pub struct AuthArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(subcommand)]
    pub command: AuthCommand,
}

/// The processes of `shoplab auth`.
#[derive(Subcommand, Debug, Clone)]
pub enum AuthCommand {
    /// The HTTP API: signup, login, refresh, validate, profile.
    Serve {
        /// Listen address.
        #[arg(long, env = "AUTH_ADDR", default_value = addr::AUTH, value_parser = non_empty())]
        addr: String,
    },
    /// Publishes the auth outbox to RabbitMQ.
    Relay {
        /// Where /healthz, /readyz and /metrics are served.
        #[arg(long, env = "METRICS_ADDR", default_value = addr::AUTH_RELAY, value_parser = non_empty())]
        metrics_addr: String,
    },
    /// Sends verification emails from RabbitMQ, with retries and a dead-letter queue.
    EmailWorker {
        /// Where /healthz, /readyz and /metrics are served.
        #[arg(long, env = "METRICS_ADDR", default_value = addr::EMAIL_WORKER, value_parser = non_empty())]
        metrics_addr: String,
    },
}

impl AuthCommand {
    /// The name of the process in traces, metrics and logs.
    pub fn service(&self) -> &'static str {
        match self {
            Self::Serve { .. } => crate::startup::SERVICE,
            Self::Relay { .. } => crate::relay::SERVICE,
            Self::EmailWorker { .. } => crate::worker::SERVICE,
        }
    }
}

/// Runs one auth process until Ctrl-C or SIGTERM.
pub async fn run(connections: Connections, args: AuthArgs) -> anyhow::Result<()> {
    let service = args.command.service();
    kit::supervise::run_process(service, Box::pin(serve(connections, args, service))).await
}

async fn serve(connections: Connections, args: AuthArgs, service: &'static str) -> anyhow::Result<()> {
    let config = Config::new(connections, args.service);
    let settings = args.settings.settings()?;
    match args.command {
        AuthCommand::Serve { addr } => {
            let app = crate::build(config, settings, &addr).await?;
            app.run_until_stopped(kit::http::shutdown_signal()).await?;
        }
        AuthCommand::Relay { metrics_addr } => {
            let core = Core::connect(service, config, settings.worker_pool).await?;
            let work = |stop| crate::relay::run(core.clone(), settings, stop);
            kit::worker::serve(core.base(), &metrics_addr, work).await?;
        }
        AuthCommand::EmailWorker { metrics_addr } => {
            let core = Core::connect(service, config, settings.worker_pool).await?;
            let work = |stop| crate::worker::run(core.clone(), settings, stop);
            kit::worker::serve(core.base(), &metrics_addr, work).await?;
        }
    }
    Ok(())
}
