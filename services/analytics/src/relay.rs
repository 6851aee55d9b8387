//! `analytics relay`: publishes the outbox rows of accepted batches to RabbitMQ.
//!
//! The relay itself is the kit's (`kit::outbox::Relay`: rows leased by a short claim, publisher confirms
//! with a bounded wait, refused rows parked, the ingest request's `traceparent` carried on). This module
//! gives it the analytics outbox ([`OUTBOX`], which counts the events a published batch carries) and the
//! topology, declared before the first publish (so a batch published before the aggregator ever ran still
//! has a queue to wait in). Reconnecting when RabbitMQ goes away is the worker harness's
//! (`kit::worker`): the rows simply stay unpublished until then, nothing is lost.

use kit::Config;
use kit::app::Core;
use kit::http::BaseState;
use kit::metrics::Metrics;
use kit::outbox::{Outbox, Relay};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::metrics::AnalyticsMetrics;
use crate::topology::{self, Names};

/// Postgres connections: the flag listener and the outbox listener each hold one, the relay batches use the rest.
const POOL_SIZE: u32 = 4;
/// Name used in metrics, traces and logs.
pub const SERVICE: &str = "analytics-relay";
/// Outbox rows (batches) claimed per transaction.
const BATCH: i64 = 100;

/// The analytics outbox (migration 0004): one row per accepted batch.
pub const OUTBOX: Outbox = kit::outbox!("analytics.outbox").on_published(count_published);

/// Counts the events (not the rows) published: a row carries a whole batch in `events`, so `published`
/// compares with `ingested` and `aggregated`, which count events too.
fn count_published(metrics: &Metrics, payloads: &[&Value]) {
    let n = payloads.iter().map(|p| p.get("events").and_then(Value::as_array).map_or(1, Vec::len)).sum();
    AnalyticsMetrics::of(metrics).count_events("published", n);
}

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
        kit::amqp::probe(&config.amqp_url).await?;
        AnalyticsMetrics::of(&core.metrics);
        Ok(Self { core, names: Names::new(&config.amqp_prefix) })
    }

    /// State of the worker's `/healthz`, `/readyz` and `/metrics`.
    pub fn base(&self) -> BaseState {
        self.core.base()
    }

    /// Relays until `stop` is cancelled, reconnecting after failures.
    pub async fn run(self, stop: CancellationToken) -> anyhow::Result<()> {
        kit::worker::keep_running(SERVICE, &stop, || self.relay(&stop)).await;
        Ok(())
    }

    /// One connection's worth of relaying.
    async fn relay(&self, stop: &CancellationToken) -> anyhow::Result<()> {
        let conn = kit::amqp::connect(&self.core.config.amqp_url).await?;
        let channel = kit::amqp::confirm_channel(&conn).await?;
        topology::declare(&channel, &self.names).await?;
        let relay = Relay { db: self.core.db.clone(), outbox: OUTBOX, channel, metrics: self.core.metrics.clone(), batch: BATCH };
        let res = relay.run(stop.clone()).await;
        let _ = conn.close(200, "relay stopping".into()).await;
        res
    }
}
