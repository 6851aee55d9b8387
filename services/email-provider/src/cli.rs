//! `shoplab email-provider`: the simulated email API as a process of the lab.
//!
//! The `shoplab` binary parses its command line and calls [`run`]. Start-up lives here, in the library,
//! so the service is compiled once, in this crate, and the one binary that runs every process only
//! dispatches to it. Latency, errors and outages are flags (`emailprovider.*`, see `shoplab flags list`),
//! not options; `shoplab email-provider --help` lists every option with its variable and default.

use clap::Args;
use kit::Config;
use kit::config::{Connections, ServiceArgs};

use crate::startup::{self, SERVICE};
use crate::store::DEFAULT_KEEP;

/// Default local addresses of this service's processes (docs/architecture.md, "Processes").
pub mod addr {
    pub const EMAIL_PROVIDER: &str = "127.0.0.1:8090";
}

/// Options of `shoplab email-provider`.
#[derive(Args, Debug, Clone)]
#[command(after_help = kit::config::LIBRARY_ENV)]
pub struct ProviderArgs {
    /// Listen address.
    #[arg(long, env = "EMAIL_PROVIDER_ADDR", default_value = addr::EMAIL_PROVIDER, value_parser = kit::config::non_empty())]
    pub addr: String,
    /// Messages kept in memory for `GET /messages` (the idempotency keys of ten times as many).
    #[arg(long, env = "EMAIL_PROVIDER_KEEP", default_value_t = DEFAULT_KEEP,
          value_parser = kit::config::parsed::<usize>())]
    pub keep: usize,
    #[command(flatten)]
    pub service: ServiceArgs,
}

/// Serves the simulated provider on `args.addr` until Ctrl-C or SIGTERM.
pub async fn run(connections: Connections, args: ProviderArgs) -> anyhow::Result<()> {
    kit::supervise::run_process(SERVICE, Box::pin(serve(connections, args))).await
}

async fn serve(connections: Connections, args: ProviderArgs) -> anyhow::Result<()> {
    let config = Config::new(connections, args.service);
    let app = startup::build_keeping(config, &args.addr, args.keep).await?;
    app.run_until_stopped(kit::http::shutdown_signal()).await?;
    Ok(())
}
