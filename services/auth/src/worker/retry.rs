//! Retrying later without a timer: republish the failed message into a wait queue of its attempt.
//!
//! The attempt number travels in a header of shoplab's own, [`ATTEMPT_HEADER`] — the number of the
//! delivery attempt the copy will be — never in RabbitMQ's `x-death`. `x-death` belongs to the broker:
//! RabbitMQ 3.13.0-3.13.2 and 4.x ignore an `x-death` a client publishes, so a count read from it
//! starts again on every republish and a failing message retries for ever. The copy goes out through
//! `kit::amqp::publish` like every other message (message id kept as the idempotency key, persistent,
//! trace context, publisher confirm), without the broker-owned `x-` headers of the delivery. The publish
//! is confirmed before the original is acked: if the worker dies in between, the original is
//! redelivered (with the same attempt number) and the duplicate is absorbed by idempotency, but the
//! message is never lost.

use lapin::Channel;
use lapin::message::Delivery;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use tracing::Instrument;

use crate::email::topology::Topology;

/// The header holding the attempt number of a delivery (absent: attempt 1).
pub const ATTEMPT_HEADER: &str = "shoplab-attempt";

/// The attempt this delivery is: its [`ATTEMPT_HEADER`], or 1 for a message fresh from the relay.
pub fn attempt_of(delivery: &Delivery) -> u32 {
    let value = delivery.properties.headers().as_ref().and_then(|h| h.inner().get(ATTEMPT_HEADER).cloned());
    let n = match value {
        Some(AMQPValue::LongLongInt(n)) => n,
        Some(AMQPValue::LongInt(n)) => i64::from(n),
        Some(AMQPValue::LongUInt(n)) => i64::from(n),
        Some(AMQPValue::ShortInt(n)) => i64::from(n),
        Some(AMQPValue::LongString(s)) => s.to_string().parse().unwrap_or(1),
        _ => 1,
    };
    u32::try_from(n.max(1)).unwrap_or(u32::MAX)
}

/// The headers of the copy: the delivery's own, minus the broker's `x-` ones, with the next attempt.
fn next_headers(delivery: &Delivery, next_attempt: u32) -> FieldTable {
    let mut headers = FieldTable::default();
    if let Some(old) = delivery.properties.headers() {
        for (k, v) in old.inner() {
            if !k.as_str().starts_with("x-") && k.as_str() != ATTEMPT_HEADER {
                headers.insert(k.clone(), v.clone());
            }
        }
    }
    headers.insert(ShortString::from(ATTEMPT_HEADER), AMQPValue::LongLongInt(i64::from(next_attempt)));
    headers
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
        headers: next_headers(delivery, attempt.saturating_add(1)),
    };
    kit::amqp::publish(ch, msg).instrument(span).await
}
