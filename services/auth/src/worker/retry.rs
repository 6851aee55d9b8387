//! Retrying later without a timer: republish the failed message into the wait queue of its attempt.
//!
//! The copy keeps the original message id (the idempotency key) and headers — including `x-death`, in
//! which RabbitMQ counts every trip through a wait queue, so the attempt number survives a worker
//! restart — and gets a jittered `expiration` no longer than the wait queue's TTL. The publish is
//! confirmed before the original is acked: if the worker dies in between, the original is redelivered
//! and the duplicate is absorbed by idempotency, but the message is never lost.

use lapin::options::BasicPublishOptions;
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel};
use tracing::Instrument;

use crate::email::backoff;
use crate::email::topology::Topology;
use crate::settings::EmailSettings;

/// Publishes `delivery` again into the wait queue after failed attempt `attempt`.
pub async fn republish(
    ch: &Channel,
    delivery: &lapin::message::Delivery,
    topology: &Topology,
    attempt: u32,
    email: &EmailSettings,
) -> anyhow::Result<()> {
    let wait = topology.wait_after(attempt);
    let delay = backoff(attempt, email.retry_base, email.retry_max).min(wait.ttl);
    let span = tracing::info_span!(
        "amqp.publish",
        otel.name = %format!("publish {}", topology.retry_exchange),
        otel.kind = "producer",
        messaging.system = "rabbitmq",
        messaging.operation.type = "send",
        messaging.destination.name = %topology.retry_exchange,
        messaging.rabbitmq.destination.routing_key = %wait.queue,
        retry.attempt = attempt,
        retry.delay_ms = delay.as_millis() as u64,
    );
    async {
        let mut headers = delivery.properties.headers().clone().unwrap_or_default();
        kit::propagation::inject_amqp(&mut headers);
        let mut props = BasicProperties::default()
            .with_content_type(ShortString::from("application/json"))
            .with_delivery_mode(2)
            .with_headers(headers)
            .with_expiration(ShortString::from(delay.as_millis().to_string()));
        if let Some(id) = delivery.properties.message_id() {
            props = props.with_message_id(id.clone());
        }
        let opts = BasicPublishOptions { mandatory: true, ..Default::default() };
        let exchange = ShortString::from(topology.retry_exchange.clone());
        let key = ShortString::from(wait.queue.clone());
        let confirm = ch.basic_publish(exchange, key, opts, &delivery.data, props).await?.await?;
        match confirm {
            lapin::Confirmation::Ack(None) => Ok(()),
            other => anyhow::bail!("retry publish not confirmed: {other:?}"),
        }
    }
    .instrument(span)
    .await
}
