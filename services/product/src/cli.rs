//! `shoplab product`: the product API as a process of the lab.
//!
//! The `shoplab` binary parses its command line and calls [`run`]. Start-up lives here, in the library,
//! so the service is compiled once, in this crate, and the one binary that runs every process only
//! dispatches to it. Every setting is an option with its variable and default (`shoplab product --help`).

use clap::Args;
use kit::Config;
use kit::config::{Connections, ServiceArgs};

use crate::startup::{self, SERVICE};

/// Default local addresses of this service's processes (docs/architecture.md, "Processes").
pub mod addr {
    pub const PRODUCT: &str = "127.0.0.1:8081";
}

/// Options of `shoplab product`.
#[derive(Args, Debug, Clone)]
#[command(after_help = kit::config::LIBRARY_ENV)]
pub struct ProductArgs {
    /// Listen address.
    #[arg(long, env = "PRODUCT_ADDR", default_value = addr::PRODUCT, value_parser = kit::config::non_empty())]
    pub addr: String,
    /// Postgres connections. Small on purpose: under the naive levers a saturated pool is what the
    /// "pool in use / wait" panel should show.
    #[arg(long, env = "PRODUCT_DB_POOL", default_value_t = startup::DB_POOL,
          value_parser = kit::config::parsed::<u32>())]
    pub db_pool: u32,
    /// Where the simulated provider answers: it also serves the simulated inventory that
    /// `GET /products/{id}/availability` reads (lever `product.hedged_requests`).
    #[arg(long, env = "EMAIL_PROVIDER_URL", default_value = startup::DEFAULT_INVENTORY_URL,
          value_parser = kit::config::non_empty())]
    pub inventory_url: String,
    #[command(flatten)]
    pub service: ServiceArgs,
}

/// Serves the product API on `args.addr` until Ctrl-C or SIGTERM.
pub async fn run(connections: Connections, args: ProductArgs) -> anyhow::Result<()> {
    kit::supervise::run_process(SERVICE, Box::pin(serve(connections, args))).await
}

async fn serve(connections: Connections, args: ProductArgs) -> anyhow::Result<()> {
    let config = Config::new(connections, args.service);
    let app = startup::build_with(config, &args.addr, args.db_pool, &args.inventory_url).await?;
    app.run_until_stopped(kit::http::shutdown_signal()).await?;
    Ok(())
}
