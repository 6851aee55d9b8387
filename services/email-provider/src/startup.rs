//! Builds the email provider from its config: flags (its only use of Postgres), the mailbox, routes.

use std::net::SocketAddr;
use std::sync::Arc;

use kit::Config;
use kit::app::Core;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::faults::Faults;
use crate::metrics::Requests;
use crate::routes::{ProviderState, router};
use crate::store::{DEFAULT_KEEP, Store};

/// Name used in metrics, traces and logs.
pub const SERVICE: &str = "email-provider";

/// Postgres connections: the provider only reads flags and serves the admin routes.
const POOL_SIZE: u32 = 2;

/// A bound email provider, ready to run.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    router: axum::Router,
    /// Read by the accept loop to hang or refuse `POST /send`.
    faults: Faults,
    /// `POST /send` requests by result (the accept loop counts the outages).
    requests: Requests,
    /// The mailbox, shared with the routes (tests may inspect it directly).
    store: Arc<Store>,
}

/// Connects the flag store and binds `addr` (port 0 picks a free port), keeping the default number of
/// messages.
pub async fn build(config: Config, addr: &str) -> anyhow::Result<Application> {
    build_keeping(config, addr, DEFAULT_KEEP).await
}

/// [`build`] keeping the last `keep` messages (`shoplab email-provider --keep`).
pub async fn build_keeping(config: Config, addr: &str, keep: usize) -> anyhow::Result<Application> {
    let core = Core::connect(SERVICE, config, POOL_SIZE).await?;
    let faults = Faults::new(core.flags.clone());
    let store = Arc::new(Store::with_capacity(keep));
    let admin_token = core.config.admin_token.clone();
    let requests = Requests::register(&core.metrics);
    let state = ProviderState { store: store.clone(), faults: faults.clone(), requests: requests.clone(), admin_token };
    let api = router(state).merge(crate::inventory::router(core.flags.clone()));
    let router = kit::http::finish(api, core.base());
    let (listener, addr) = kit::app::bind(addr).await?;
    Ok(Application { listener, addr, router, faults, requests, store })
}

impl Application {
    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The mailbox of accepted messages.
    pub fn store(&self) -> Arc<Store> {
        self.store.clone()
    }

    /// Serves until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) -> std::io::Result<()> {
        tracing::info!(event = "listening", addr = %self.addr);
        crate::serve::serve(self.listener, self.router, self.faults, self.requests, stop).await
    }

    /// Serves until `shutdown` resolves.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let stop = CancellationToken::new();
        let trigger = stop.clone();
        tokio::spawn(async move {
            shutdown.await;
            trigger.cancel();
        });
        self.run(stop).await
    }
}
