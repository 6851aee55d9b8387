//! RabbitMQ: connecting with a clear error, naming with a per-lab prefix, publishing with confirms and
//! trace context (bounded by a confirm timeout), and consumer spans that continue the publisher's trace.

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::deps;

/// `<prefix>.<base>`: a queue or exchange name under the lab's (or a test's) AMQP prefix. A service's
/// topology lists every name it declares, so a test environment can delete them afterwards (AMQP itself
/// cannot list queues).
pub fn name(prefix: &str, base: &str) -> String {
    format!("{prefix}.{base}")
}

/// Connects, failing with one actionable line.
pub async fn connect(url: &str) -> anyhow::Result<Connection> {
    // lapin built without a TLS feature would open `amqps://` as plain TCP: refuse instead
    anyhow::ensure!(
        !url.trim_start().to_ascii_lowercase().starts_with("amqps:"),
        "RabbitMQ at {}: amqps:// needs TLS, which this build leaves out (docs/architecture.md, \"Build\")",
        deps::endpoint(url)
    );
    Connection::connect(url, ConnectionProperties::default()).await.map_err(|e| deps::rabbitmq_error(url, &e))
}

/// Connects once and disconnects: a worker's start-up check, failing with [`connect`]'s one line when
/// RabbitMQ is not reachable (the worker itself connects later, and again after every loss).
pub async fn probe(url: &str) -> anyhow::Result<()> {
    let conn = connect(url).await?;
    let _ = conn.close(200, "probe".into()).await;
    Ok(())
}

/// A channel with publisher confirms on.
pub async fn confirm_channel(conn: &Connection) -> anyhow::Result<Channel> {
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    Ok(ch)
}

/// One message to publish.
pub struct Outgoing<'a> {
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub message_id: &'a str,
    pub payload: &'a [u8],
    /// Extra headers (e.g. attempt counts); trace context is added automatically.
    pub headers: FieldTable,
}

/// Longest a publish may wait for the broker's confirm. A broker under a memory or disk alarm accepts
/// the bytes and confirms nothing (nor answers at all) until the alarm clears: without a bound, the
/// publisher — and whatever it holds — waits with it.
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a publish failed: the message, or the way to the broker.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The broker refused this message (unroutable, nacked, unknown exchange): sent again unchanged, it
    /// fails again. The channel may be closed by the broker afterwards.
    #[error("the broker refused message {id}: {reason}")]
    Refused { id: String, reason: String },
    /// No confirm within [`CONFIRM_TIMEOUT`]: the broker is blocked or gone; drop the channel.
    #[error("no publisher confirm for message {0} within 5 s (broker blocked or unreachable)")]
    Timeout(String),
    /// The connection or channel failed.
    #[error("publishing message {id} failed: {source}")]
    Transport { id: String, source: lapin::Error },
}

impl PublishError {
    /// True when the message itself is at fault (retrying the same message cannot help).
    pub fn is_refused(&self) -> bool {
        matches!(self, Self::Refused { .. })
    }
}

/// Publishes persistently and waits (at most [`CONFIRM_TIMEOUT`]) for the broker's confirm; an
/// unroutable message is an error. The error is a [`PublishError`] inside the `anyhow::Error`
/// (`err.downcast_ref::<PublishError>()`).
pub async fn publish(ch: &Channel, msg: Outgoing<'_>) -> anyhow::Result<()> {
    let span = tracing::info_span!(
        "amqp.publish",
        otel.name = %format!("publish {}", msg.exchange),
        otel.kind = "producer",
        messaging.system = "rabbitmq",
        messaging.operation.type = "send",
        messaging.destination.name = %msg.exchange,
        messaging.rabbitmq.destination.routing_key = %msg.routing_key,
        messaging.message.id = %msg.message_id,
    );
    let id = msg.message_id.to_owned();
    match tokio::time::timeout(CONFIRM_TIMEOUT, publish_confirmed(ch, msg).instrument(span)).await {
        Ok(res) => res.map_err(anyhow::Error::from),
        Err(_) => Err(PublishError::Timeout(id).into()),
    }
}

async fn publish_confirmed(ch: &Channel, msg: Outgoing<'_>) -> Result<(), PublishError> {
    let id = msg.message_id.to_owned();
    let mut headers = msg.headers;
    crate::propagation::inject_amqp(&mut headers);
    let props = BasicProperties::default()
        .with_message_id(ShortString::from(msg.message_id.to_owned()))
        .with_content_type(ShortString::from("application/json"))
        .with_delivery_mode(2)
        .with_headers(headers);
    let opts = BasicPublishOptions { mandatory: true, ..Default::default() };
    let sent = ch.basic_publish(msg.exchange.into(), msg.routing_key.into(), opts, msg.payload, props).await;
    let confirm = match sent {
        Ok(pending) => pending.await,
        Err(e) => Err(e),
    };
    match confirm {
        Ok(lapin::Confirmation::Ack(None)) => Ok(()),
        Ok(lapin::Confirmation::Ack(Some(_))) => Err(PublishError::Refused { id, reason: "unroutable".into() }),
        Ok(other) => Err(PublishError::Refused { id, reason: format!("not confirmed: {other:?}") }),
        Err(e) => Err(classify(id, e)),
    }
}

/// A channel-level ("soft") protocol error such as an unknown exchange is about the message; anything
/// else is about the connection.
fn classify(id: String, e: lapin::Error) -> PublishError {
    match e.kind() {
        lapin::ErrorKind::ProtocolError(amqp) if matches!(amqp.kind(), lapin::protocol::AMQPErrorKind::Soft(_)) => {
            PublishError::Refused { id, reason: amqp.to_string() }
        }
        _ => PublishError::Transport { id, source: e },
    }
}

/// A CONSUMER span for one delivery, continuing the publisher's trace (set before it is entered).
pub fn consume_span(queue: &str, delivery: &lapin::message::Delivery) -> tracing::Span {
    let id = delivery.properties.message_id().as_ref().map(|m| m.to_string()).unwrap_or_default();
    let span = tracing::info_span!(
        "amqp.process",
        otel.name = %format!("process {queue}"),
        otel.kind = "consumer",
        otel.status_code = tracing::field::Empty,
        messaging.system = "rabbitmq",
        messaging.operation.type = "process",
        messaging.destination.name = %queue,
        messaging.message.id = %id,
    );
    let _ = span.set_parent(crate::propagation::extract_amqp(delivery.properties.headers().as_ref()));
    span
}

/// The header in which shoplab's consumers count a message's failed attempts. A header of the project's
/// own, not RabbitMQ's `x-death`: RabbitMQ 3.13.0-3.13.2 and 4.x ignore an `x-death` a client publishes, so
/// a count read from it starts again on every republish and a failing message retries for ever.
pub const ATTEMPTS_HEADER: &str = "shoplab-attempts";

/// Failed attempts recorded in [`ATTEMPTS_HEADER`] (0 when absent or unreadable).
pub fn attempts(delivery: &lapin::message::Delivery) -> i64 {
    let Some(headers) = delivery.properties.headers() else { return 0 };
    let n = match headers.inner().get(ATTEMPTS_HEADER) {
        Some(AMQPValue::LongLongInt(n)) => *n,
        Some(AMQPValue::LongInt(n)) => i64::from(*n),
        Some(AMQPValue::ShortInt(n)) => i64::from(*n),
        Some(AMQPValue::ShortShortInt(n)) => i64::from(*n),
        Some(AMQPValue::LongUInt(n)) => i64::from(*n),
        Some(AMQPValue::LongString(s)) => s.to_string().parse().unwrap_or(0),
        _ => 0,
    };
    n.max(0)
}

/// The headers to republish a failed `delivery` with: its own, minus the broker's `x-` ones, with
/// `attempts` failed attempts in [`ATTEMPTS_HEADER`] (trace context is set again by [`publish`]).
pub fn attempts_headers(delivery: &lapin::message::Delivery, attempts: i64) -> FieldTable {
    let mut headers = FieldTable::default();
    if let Some(old) = delivery.properties.headers() {
        for (k, v) in old.inner() {
            if !k.as_str().starts_with("x-") && k.as_str() != ATTEMPTS_HEADER {
                headers.insert(k.clone(), v.clone());
            }
        }
    }
    headers.insert(ShortString::from(ATTEMPTS_HEADER), AMQPValue::LongLongInt(attempts));
    headers
}

#[cfg(test)]
mod tls_tests {
    /// Built without TLS, an `amqps://` URL is refused before any connection, and the error keeps the
    /// credentials out.
    #[tokio::test]
    async fn amqps_is_refused_without_leaking_credentials() {
        let Err(err) = super::connect("AMQPS://guest:s3cret@127.0.0.1:5671/%2f").await else { panic!("amqps accepted") };
        let msg = err.to_string();
        assert!(msg.contains("amqps:// needs TLS") && msg.contains("127.0.0.1:5671"), "{msg}");
        assert!(!msg.contains("s3cret"), "{msg}");
    }
}
