//! The RabbitMQ topology of the verification email pipeline, declared by the relay and the worker alike.
//!
//! ```text
//!  relay --> [auth.email] --verification--> (auth.email.send) --> worker --> provider
//!               ^                               |  reject (attempts used up, or poison)
//!               |                               v
//!               |                         [auth.email.dead] --> (auth.email.dlq)
//!               |  dead-letter on TTL
//!   (auth.email.wait.<ttl>ms) <--wait.<ttl>ms-- [auth.email.retry] <-- worker republishes a failed message
//! ```
//! A failed send is republished to the retry exchange into a wait queue of its attempt: the attempt's
//! backoff tier (1 s, 2 s, 4 s ... capped) has one queue per jitter step (50 %, 75 % and 100 % of the
//! tier, [`super::JITTER_STEPS`]), each with that `x-message-ttl`, and the worker picks one at random.
//! When the message expires, `x-dead-letter-exchange` brings it back to the main exchange. The attempt
//! count rides in the message's own `shoplab-attempts` header (see `crate::worker::retry`), not in the
//! broker's `x-death`. No delayed-message plugin, no timers in the worker.

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

use super::{JITTER_STEPS, backoff_cap};
use crate::settings::EmailSettings;

/// Routing key of verification emails on the main exchange.
pub const ROUTING_KEY: &str = "verification";

/// Every exchange and queue name, under the lab's AMQP prefix.
#[derive(Clone, Debug)]
pub struct Topology {
    /// Where the relay publishes (direct).
    pub exchange: String,
    /// What the worker consumes.
    pub queue: String,
    /// Where the worker republishes failed messages (direct, keyed by wait queue).
    pub retry_exchange: String,
    /// Where rejected messages go (fanout).
    pub dead_exchange: String,
    /// The dead-letter queue: messages that used up their attempts or could not be read.
    pub dlq: String,
    /// Wait queues for each retry: `waits[i]` holds the jitter steps of the wait after attempt `i + 1`.
    pub waits: Vec<Vec<Wait>>,
}

/// One backoff step.
#[derive(Clone, Debug)]
pub struct Wait {
    /// Queue name, also its routing key on the retry exchange.
    pub queue: String,
    /// The queue's message TTL (one jitter step of the backoff tier).
    pub ttl: Duration,
}

impl Topology {
    /// Names under `prefix` for the retry schedule of `email`.
    pub fn new(prefix: &str, email: &EmailSettings) -> Self {
        let step =
            |ttl: Duration| Wait { queue: kit::amqp::name(prefix, &format!("auth.email.wait.{}ms", ttl.as_millis())), ttl };
        let waits = (1..email.max_attempts.max(2))
            .map(|attempt| {
                let tier = backoff_cap(attempt, email.retry_base, email.retry_max);
                JITTER_STEPS.iter().map(|share| step(tier.mul_f64(*share))).collect()
            })
            .collect();
        Self {
            exchange: kit::amqp::name(prefix, "auth.email"),
            queue: kit::amqp::name(prefix, "auth.email.send"),
            retry_exchange: kit::amqp::name(prefix, "auth.email.retry"),
            dead_exchange: kit::amqp::name(prefix, "auth.email.dead"),
            dlq: kit::amqp::name(prefix, "auth.email.dlq"),
            waits,
        }
    }

    /// Every queue and exchange name [`Topology::declare`] declares (a test environment deletes them).
    pub fn names(&self) -> Vec<String> {
        let fixed = [&self.exchange, &self.queue, &self.retry_exchange, &self.dead_exchange, &self.dlq];
        let waits = self.waits.iter().flatten().map(|w| &w.queue);
        fixed.into_iter().chain(waits).cloned().collect()
    }

    /// A wait queue after failed attempt `attempt` (1-based): one of its tier's jitter steps, at random.
    pub fn wait_after(&self, attempt: u32) -> &Wait {
        let tier = &self.waits[(attempt.max(1) as usize - 1).min(self.waits.len() - 1)];
        &tier[rand::random_range(0..tier.len())]
    }

    /// Declares everything (idempotent; same arguments every time).
    pub async fn declare(&self, ch: &Channel) -> anyhow::Result<()> {
        exchange(ch, &self.exchange, ExchangeKind::Direct).await?;
        exchange(ch, &self.retry_exchange, ExchangeKind::Direct).await?;
        exchange(ch, &self.dead_exchange, ExchangeKind::Fanout).await?;
        queue(ch, &self.dlq, FieldTable::default()).await?;
        bind(ch, &self.dlq, &self.dead_exchange, "").await?;
        let mut main = FieldTable::default();
        main.insert("x-dead-letter-exchange".into(), text(&self.dead_exchange));
        queue(ch, &self.queue, main).await?;
        bind(ch, &self.queue, &self.exchange, ROUTING_KEY).await?;
        for wait in self.waits.iter().flatten() {
            let mut args = FieldTable::default();
            args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(wait.ttl.as_millis() as i64));
            args.insert("x-dead-letter-exchange".into(), text(&self.exchange));
            args.insert("x-dead-letter-routing-key".into(), text(ROUTING_KEY));
            queue(ch, &wait.queue, args).await?;
            bind(ch, &wait.queue, &self.retry_exchange, &wait.queue).await?;
        }
        Ok(())
    }
}

fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.to_owned()))
}

async fn exchange(ch: &Channel, name: &str, kind: ExchangeKind) -> anyhow::Result<()> {
    let opts = ExchangeDeclareOptions { durable: true, ..Default::default() };
    ch.exchange_declare(ShortString::from(name.to_owned()), kind, opts, FieldTable::default()).await?;
    Ok(())
}

async fn queue(ch: &Channel, name: &str, args: FieldTable) -> anyhow::Result<()> {
    let opts = QueueDeclareOptions { durable: true, ..Default::default() };
    ch.queue_declare(ShortString::from(name.to_owned()), opts, args).await?;
    Ok(())
}

async fn bind(ch: &Channel, queue: &str, exchange: &str, key: &str) -> anyhow::Result<()> {
    let (q, x, k) =
        (ShortString::from(queue.to_owned()), ShortString::from(exchange.to_owned()), ShortString::from(key.to_owned()));
    ch.queue_bind(q, x, k, QueueBindOptions::default(), FieldTable::default()).await?;
    Ok(())
}
