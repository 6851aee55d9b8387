//! `auth relay`: publishes the auth outbox to RabbitMQ (service name `auth-relay`).
//!
//! The relay itself is `kit::outbox::Relay`: it leases unpublished rows (a short claim that commits at
//! once; several relays can run side by side), publishes each with a bounded wait for the publisher
//! confirm, marks what was confirmed and parks rows the broker keeps refusing. Killed mid-batch, its
//! leases run out and the rows are published again by the next relay: delivery is at least once, and the
//! worker is idempotent by message id.
//! This module adds what a process needs around it: declaring the topology before the first publish,
//! and reconnecting when the broker goes away.

use kit::app::Core;
use kit::outbox::{Relay, Table};
use tokio_util::sync::CancellationToken;

use crate::email::topology::Topology;
use crate::settings::Settings;

/// Name used in metrics, traces and logs.
pub const SERVICE: &str = "auth-relay";

/// Relays until `stop` is cancelled, reconnecting after failures.
pub async fn run(core: Core, settings: Settings, stop: CancellationToken) -> anyhow::Result<()> {
    let topology = Topology::new(&core.config.amqp_prefix, &settings.email);
    crate::workers::keep_running("auth-relay", &stop, || session(&core, &settings, &topology, &stop)).await;
    Ok(())
}

/// One connection's worth of relaying.
async fn session(core: &Core, settings: &Settings, topology: &Topology, stop: &CancellationToken) -> anyhow::Result<()> {
    let conn = kit::amqp::connect(&core.config.amqp_url).await?;
    let channel = kit::amqp::confirm_channel(&conn).await?;
    topology.declare(&channel).await?;
    tracing::info!(event = "relay_started", exchange = %topology.exchange);
    let relay =
        Relay { db: core.db.clone(), table: Table::Auth, channel, metrics: core.metrics.clone(), batch: settings.relay_batch };
    let res = relay.run(stop.clone()).await;
    let _ = conn.close(200, "relay stopping".into()).await;
    res
}
