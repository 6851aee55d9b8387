//! Start-up shared by every service: one metrics registry, the main Postgres pool, the flag snapshot
//! and a bound listener, created once (zero-to-production's `Application::build`, factored out).

use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::db::Db;
use crate::flags::Flags;
use crate::http::BaseState;
use crate::metrics::Metrics;

/// What a service is built from.
#[derive(Clone)]
pub struct Core {
    pub service: &'static str,
    pub config: Config,
    pub metrics: Metrics,
    /// The main ("shared") Postgres pool.
    pub db: Db,
    pub flags: Flags,
}

impl Core {
    /// Connects Postgres (pool of `pool_size`), loads the flags and starts following them.
    pub async fn connect(service: &'static str, config: Config, pool_size: u32) -> anyhow::Result<Self> {
        let metrics = Metrics::new(service);
        let db = Db::connect(&config.database_url, "shared", pool_size, &metrics).await?;
        let flags = Flags::start(db.pool.clone(), metrics.clone())
            .await
            .map_err(|e| anyhow::anyhow!("cannot read lab.flags ({e}): run `shoplab migrate`"))?;
        Ok(Self { service, config, metrics, db, flags })
    }

    /// The state of the base routes (health, metrics, admin flags).
    pub fn base(&self) -> BaseState {
        BaseState::new(
            self.service,
            self.metrics.clone(),
            self.flags.clone(),
            self.db.pool.clone(),
            self.config.admin_token.clone(),
        )
    }
}

/// Binds `addr` (port 0 picks a free port, as tests do), with one clear line on failure.
pub async fn bind(addr: &str) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// A bound, ready-to-run HTTP service.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    router: axum::Router,
}

impl Application {
    /// Binds `addr` for `router`.
    pub async fn bind(addr: &str, router: axum::Router) -> anyhow::Result<Self> {
        let (listener, addr) = bind(addr).await?;
        Ok(Self { listener, addr, router })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        tracing::info!(event = "listening", addr = %self.addr);
        crate::http::serve(self.listener, self.router, shutdown).await
    }
}
