//! Retrying later without a timer: republish the failed message into a wait queue of its attempt.
//!
//! The failed attempts travel in shoplab's own header, `kit::amqp::ATTEMPTS_HEADER` (the same header the
//! analytics aggregator counts refusals in), never in RabbitMQ's `x-death`, which belongs to the broker
//! and which RabbitMQ 3.13.0-3.13.2 and 4.x ignore when a client publishes it. The copy goes out through
//! `kit::amqp::publish` like every other message (message id kept as the idempotency key, persistent,
//! trace context, publisher confirm), with the delivery's headers minus the broker-owned `x-` ones
//! (`kit::amqp::attempts_headers`). The publish is confirmed before the original is acked: if the worker
//! dies in between, the original is redelivered (with the same count) and the duplicate is absorbed by
//! idempotency, but the message is never lost.

use lapin::Channel;
use lapin::message::Delivery;
use tracing::Instrument;

use crate::email::topology::Topology;

/// The attempt this delivery is (1-based): one more than the failed attempts in its header, so 1 for a
/// message fresh from the relay.
pub fn attempt_of(delivery: &Delivery) -> u32 {
    u32::try_from(kit::amqp::attempts(delivery).saturating_add(1)).unwrap_or(u32::MAX)
}

/// Publishes `delivery` again into a wait queue after failed attempt `attempt`.
pub async fn republish(ch: &Channel, delivery: &Delivery, topology: &Topology, attempt: u32) -> anyhow::Result<()> {
    let wait = topology.wait_after(attempt);
    let span = tracing::info_span!("email.retry", retry.attempt = attempt, retry.delay_ms = wait.ttl.as_millis() as u64);
    let id = delivery.properties.message_id().as_ref().map(|m| m.to_string()).unwrap_or_default();
    let msg = kit::amqp::Outgoing {
        exchange: &topology.retry_exchange,
        routing_key: &wait.queue,
        message_id: &id,
        payload: &delivery.data,
        headers: kit::amqp::attempts_headers(delivery, i64::from(attempt)),
    };
    kit::amqp::publish(ch, msg).instrument(span).await
}
