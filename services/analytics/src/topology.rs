//! The topology of the event pipeline: the message that carries one accepted batch from the ingest
//! transaction (outbox row) to the aggregator, and the exchanges and queues it travels through.
//!
//! One outbox row per accepted batch keeps the relay cheap (one publish for up to 1000 events). The
//! message id (the outbox row's `message_id`) is what the aggregator deduplicates on: a batch is applied
//! to the buckets at most once however often RabbitMQ redelivers it.

use chrono::{DateTime, Utc};
use lapin::Channel;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Routing key of event batches.
pub const ROUTING_KEY: &str = "events.batch";

/// The type of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    View,
    AddToCart,
    Order,
}

impl Kind {
    /// Parses the `type` column / field value.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "view" => Some(Self::View),
            "add_to_cart" => Some(Self::AddToCart),
            "order" => Some(Self::Order),
            _ => None,
        }
    }

    /// The stored form (`analytics.events.type`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::AddToCart => "add_to_cart",
            Self::Order => "order",
        }
    }
}

/// What the aggregator needs of one event (user and session stay in Postgres).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub product_id: i64,
    pub amount_cents: i64,
}

/// The payload of one outbox row / AMQP message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EventBatch {
    /// When the ingest transaction ran; the aggregator's lag is measured from it.
    pub ingested_at: DateTime<Utc>,
    /// Only the events this batch actually inserted (duplicates of earlier batches are left out).
    pub events: Vec<EventRecord>,
}

/// Exchange and queue names under the lab's AMQP prefix.
#[derive(Clone, Debug)]
pub struct Names {
    /// Topic exchange the relay publishes batches to.
    pub exchange: String,
    /// The aggregator's durable queue.
    pub queue: String,
    /// Where messages the aggregator cannot read go, instead of being lost or redelivered forever.
    pub dead_exchange: String,
    /// The queue behind `dead_exchange`, for inspection.
    pub dead_queue: String,
}

impl Names {
    /// The names for `prefix` (`Config::amqp_prefix`).
    pub fn new(prefix: &str) -> Self {
        Self {
            exchange: kit::amqp::name(prefix, "analytics.events"),
            queue: kit::amqp::name(prefix, "analytics.aggregator"),
            dead_exchange: kit::amqp::name(prefix, "analytics.events.dead"),
            dead_queue: kit::amqp::name(prefix, "analytics.aggregator.dead"),
        }
    }
}

impl Names {
    /// Every queue and exchange name [`declare`] declares (a test environment deletes them).
    pub fn names(&self) -> Vec<String> {
        vec![self.exchange.clone(), self.queue.clone(), self.dead_exchange.clone(), self.dead_queue.clone()]
    }
}

/// Declares exchange, queue, binding and dead-letter queue (idempotent). Both the relay and the aggregator
/// call it, so whichever starts first, a published batch always has a queue to land in.
pub async fn declare(ch: &Channel, n: &Names) -> anyhow::Result<()> {
    let durable = ExchangeDeclareOptions { durable: true, ..Default::default() };
    ch.exchange_declare(n.exchange.as_str().into(), lapin::ExchangeKind::Topic, durable, FieldTable::default()).await?;
    ch.exchange_declare(n.dead_exchange.as_str().into(), lapin::ExchangeKind::Fanout, durable, FieldTable::default()).await?;
    let mut args = FieldTable::default();
    args.insert(ShortString::from("x-dead-letter-exchange"), AMQPValue::LongString(n.dead_exchange.as_str().into()));
    ch.queue_declare(n.queue.as_str().into(), QueueDeclareOptions::durable(), args).await?;
    ch.queue_declare(n.dead_queue.as_str().into(), QueueDeclareOptions::durable(), FieldTable::default()).await?;
    let bind = QueueBindOptions::default();
    ch.queue_bind(n.queue.as_str().into(), n.exchange.as_str().into(), ROUTING_KEY.into(), bind, FieldTable::default()).await?;
    ch.queue_bind(n.dead_queue.as_str().into(), n.dead_exchange.as_str().into(), "".into(), bind, FieldTable::default()).await?;
    Ok(())
}
