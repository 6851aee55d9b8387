//! `analytics relay`: publishes the outbox rows of accepted batches to RabbitMQ.
//!
//! The relay itself is the kit's (`kit::outbox::Relay`: rows leased by a short claim, publisher confirms
//! with a bounded wait, refused rows parked, the ingest request's `traceparent` carried on). This module gives it a process: it declares the topology (so a batch published before the
//! aggregator ever ran still has a queue to wait in), and reconnects when RabbitMQ goes away — the rows
//! simply stay unpublished until then, nothing is lost.

use std::time::Duration;

use kit::Config;
use kit::app::Core;
use kit::health::Liveness;
use kit::http::BaseState;
use kit::outbox::{Relay, Table};
use tokio_util::sync::CancellationToken;

use crate::message::{self, Names};

/// Postgres connections: the flag listener and the outbox listener each hold one, the relay batches use the rest.
const POOL_SIZE: u32 = 4;
/// Name used in metrics, traces and logs.
pub const SERVICE: &str = "analytics-relay";
/// Outbox rows (batches) claimed per transaction.
const BATCH: i64 = 100;

/// The relay process, built and connected to Postgres.
pub struct RelayWorker {
    core: Core,
    names: Names,
}

impl RelayWorker {
    /// Connects Postgres and checks RabbitMQ answers (the relay connects in [`RelayWorker::run`], and again
    /// after a loss), so a missing dependency stops the start with one line.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let core = Core::connect(SERVICE, config.clone(), POOL_SIZE).await?;
        crate::message::probe(&config.amqp_url).await?;
        Ok(Self { core, names: Names::new(&config.amqp_prefix) })
    }

    /// State of the worker's `/healthz`, `/readyz` and `/metrics`.
    pub fn base(&self) -> BaseState {
        self.core.base()
    }

    /// Relays until `stop` is cancelled, reconnecting after failures.
    pub async fn run(self, stop: CancellationToken) -> anyhow::Result<()> {
        let liveness = Liveness::current();
        while !stop.is_cancelled() {
            liveness.session_started();
            if let Err(e) = self.relay(&stop).await {
                let error = format!("{e:#}");
                liveness.session_failed(&error);
                tracing::warn!(event = "relay_failed", error = %error, "relay lost its broker or database; retrying");
                tokio::select! { _ = stop.cancelled() => {}, _ = tokio::time::sleep(Duration::from_secs(1)) => {} }
            }
        }
        Ok(())
    }

    async fn relay(&self, stop: &CancellationToken) -> anyhow::Result<()> {
        let conn = kit::amqp::connect(&self.core.config.amqp_url).await?;
        let channel = kit::amqp::confirm_channel(&conn).await?;
        message::declare(&channel, &self.names).await?;
        let relay = Relay {
            db: self.core.db.clone(),
            table: Table::Analytics,
            channel,
            metrics: self.core.metrics.clone(),
            batch: BATCH,
        };
        relay.refresh_pending().await;
        let res = relay.run(stop.clone()).await;
        let _ = conn.close(200, "relay stopping".into()).await;
        res
    }
}
