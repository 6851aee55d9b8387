//! `auth relay`: publishes the auth outbox to RabbitMQ (service name `auth-relay`).
//!
//! The relay itself is `kit::outbox::Relay`: it leases unpublished rows (a short claim that commits at
//! once; several relays can run side by side), publishes each with a bounded wait for the publisher
//! confirm, marks what was confirmed and parks rows the broker keeps refusing. Killed mid-batch, its
//! leases run out and the rows are published again by the next relay: delivery is at least once, and the
//! worker is idempotent by message id.
//! This module adds what the relay of this service needs around it: the outbox table ([`OUTBOX`]) and
//! declaring the topology before the first publish; reconnecting when the broker goes away and the health
//! routes are the worker harness's (`kit::worker`).

use kit::app::Core;
use kit::outbox::{Outbox, Relay};
use tokio_util::sync::CancellationToken;

use crate::email::topology::Topology;
use crate::settings::Settings;

/// Name used in metrics, traces and logs.
pub const SERVICE: &str = "auth-relay";

/// The auth outbox (migration 0003): verification emails written with the signup.
pub const OUTBOX: Outbox = kit::outbox!("auth.outbox");

/// Relays until `stop` is cancelled, reconnecting after failures.
pub async fn run(core: Core, settings: Settings, stop: CancellationToken) -> anyhow::Result<()> {
    let topology = Topology::new(&core.config.amqp_prefix, &settings.email);
    kit::worker::keep_running(SERVICE, &stop, || session(&core, &settings, &topology, &stop)).await;
    Ok(())
}

/// One connection's worth of relaying.
async fn session(core: &Core, settings: &Settings, topology: &Topology, stop: &CancellationToken) -> anyhow::Result<()> {
    let conn = kit::amqp::connect(&core.config.amqp_url).await?;
    let channel = kit::amqp::confirm_channel(&conn).await?;
    topology.declare(&channel).await?;
    tracing::info!(event = "relay_started", exchange = %topology.exchange);
    let relay =
        Relay { db: core.db.clone(), outbox: OUTBOX, channel, metrics: core.metrics.clone(), batch: settings.relay_batch };
    let res = relay.run(stop.clone()).await;
    let _ = conn.close(200, "relay stopping".into()).await;
    res
}
