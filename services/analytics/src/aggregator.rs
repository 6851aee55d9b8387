//! `analytics aggregator`: the background stream consumer that keeps the pre-aggregates current.
//!
//! It backfills the buckets from Postgres once (`crate::backfill`), then consumes the batches the relay
//! publishes. Each batch is applied by one Redis script (`buckets/apply.lua`) that checks the message's
//! `applied:<id>` marker first, validates every bucket before its first write and sets the marker last, so
//! a batch is applied entirely or not at all. The message is acknowledged only after the script returned:
//! killed before, the broker redelivers it; killed after, the redelivery finds the marker and is skipped.
//! Hence no event is lost and none is counted twice, whenever the process dies.
//!
//! A batch the script refuses (unusable deltas or stored state) is retried [`MAX_APPLY_ATTEMPTS`] times —
//! republished with its attempt count in `kit::amqp::ATTEMPTS_HEADER` — and then rejected into the dead-letter
//! queue and counted (`shoplab_analytics_events_total{stage="dead_lettered"}`): never dropped silently, never
//! blocking the batches behind it. Redis being down is not the batch's fault: that waits and retries.
//!
//! When the `ready` marker disappears (events re-seeded: `shoplab seed` resets the pre-aggregates), the
//! script answers "not ready" and the aggregator rebuilds from Postgres before going on.
//!
//! A ticker moves the rolling windows forward every second, so dashboard reads rarely have to.

use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use kit::Config;
use kit::app::Core;
use kit::http::BaseState;
use kit::metrics::Metrics;
use kit::redis::redis::RedisError;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions};
use lapin::types::FieldTable;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::buckets::{self, Applied, Deltas, Keys};
use crate::metrics::AnalyticsMetrics;
use crate::redis_conn::RedisConn;
use crate::topology::{self, EventBatch, Names};
use crate::window::Window;

/// Postgres connections: the flag listener holds one, the backfill snapshot uses another.
const POOL_SIZE: u32 = 4;
/// Name used in metrics, traces and logs.
pub const SERVICE: &str = "aggregator";
/// Unacknowledged messages the broker may push ahead of the one being applied.
const PREFETCH: u16 = 32;
/// Pause before a message is put back after Redis failed or a backfill was running.
const RETRY: Duration = Duration::from_secs(1);
/// How often an idle consumer checks that the pre-aggregates are still marked ready.
const READY_CHECK: Duration = Duration::from_secs(2);
/// Script refusals after which a batch goes to the dead-letter queue.
pub const MAX_APPLY_ATTEMPTS: i64 = 3;

/// The aggregator process, built and connected.
pub struct Aggregator {
    core: Core,
    redis: RedisConn,
    keys: Keys,
    names: Names,
}

impl Aggregator {
    /// Connects Postgres and Redis and checks RabbitMQ answers (the consumer connects in
    /// [`Aggregator::run`], and again after a loss), so a missing dependency stops the start with one line.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let core = Core::connect(SERVICE, config.clone(), POOL_SIZE).await?;
        let redis = RedisConn::connect(&config.redis_url).await?;
        kit::amqp::probe(&config.amqp_url).await?;
        AnalyticsMetrics::of(&core.metrics);
        Ok(Self { redis, keys: Keys::new(&config.redis_prefix), names: Names::new(&config.amqp_prefix), core })
    }

    /// State of the worker's `/healthz`, `/readyz` and `/metrics`.
    pub fn base(&self) -> BaseState {
        self.core.base().with_ready("redis", crate::startup::ready_redis(self.redis.clone()))
    }

    /// The process's metrics (tests read the aggregated count).
    pub fn metrics(&self) -> &Metrics {
        &self.core.metrics
    }

    /// Forgets the backfill so it is redone from Postgres (after re-seeding events).
    pub async fn rebuild(&self) -> anyhow::Result<()> {
        Ok(crate::backfill::reset(&self.redis, &self.keys).await?)
    }

    /// Backfills if needed, then consumes until `stop` is cancelled, reconnecting after failures.
    pub async fn run(self, stop: CancellationToken) -> anyhow::Result<()> {
        crate::backfill::ensure(&self.core.db, &self.redis, &self.keys, &stop).await?;
        let ticker = tokio::spawn(roll_windows(self.redis.clone(), self.keys.clone(), stop.clone()));
        kit::worker::keep_running(SERVICE, &stop, || self.consume(&stop)).await;
        ticker.abort();
        Ok(())
    }

    /// One connection's worth of consuming; returns Ok when stopped, Err when the connection failed.
    async fn consume(&self, stop: &CancellationToken) -> anyhow::Result<()> {
        let conn = kit::amqp::connect(&self.core.config.amqp_url).await?;
        let ch = conn.create_channel().await?;
        ch.basic_qos(PREFETCH, BasicQosOptions::default()).await?;
        let session = Session { republish: kit::amqp::confirm_channel(&conn).await?, stop: stop.clone() };
        topology::declare(&ch, &self.names).await?;
        let opts = BasicConsumeOptions::default();
        let mut consumer =
            ch.basic_consume(self.names.queue.as_str().into(), SERVICE.into(), opts, FieldTable::default()).await?;
        tracing::info!(event = "aggregator_consuming", queue = %self.names.queue);
        let mut check = tokio::time::interval(READY_CHECK);
        loop {
            tokio::select! {
                _ = stop.cancelled() => {
                    let _ = conn.close(200, "aggregator stopping".into()).await;
                    return Ok(());
                }
                // re-seeded while idle: rebuild now rather than at the next batch
                _ = check.tick() => crate::backfill::ensure(&self.core.db, &self.redis, &self.keys, stop).await?,
                next = consumer.next() => match next {
                    Some(delivery) => self.handle(delivery?, &session).await?,
                    None => anyhow::bail!("the broker closed the consumer"),
                },
            }
        }
    }

    /// Processes one delivery inside a CONSUMER span that continues the ingest request's trace.
    async fn handle(&self, delivery: Delivery, session: &Session) -> anyhow::Result<()> {
        let span = kit::amqp::consume_span(&self.names.queue, &delivery);
        self.process(&delivery, session).instrument(span).await
    }

    #[tracing::instrument(skip_all, fields(message_id, events, outcome))]
    async fn process(&self, delivery: &Delivery, session: &Session) -> anyhow::Result<()> {
        let id = delivery.properties.message_id().as_ref().map(|m| m.to_string());
        let batch = serde_json::from_slice::<EventBatch>(&delivery.data);
        let (Some(id), Ok(batch)) = (id, batch) else {
            // unreadable: to the dead-letter queue rather than redelivered forever
            tracing::error!(event = "aggregator_bad_message", "message without id or unreadable payload; dead-lettered");
            delivery.reject(BasicRejectOptions { requeue: false }).await?;
            return Ok(());
        };
        let span = tracing::Span::current();
        span.record("message_id", id.as_str()).record("events", batch.events.len());
        match buckets::apply(&self.redis, &self.keys, Some(&id), &Deltas::from_events(&batch.events)).await {
            Ok(Applied::NotReady) => {
                span.record("outcome", "NotReady");
                self.retry_later(delivery).await?;
                // the ready marker is gone (events re-seeded): rebuild, or wait for whoever does
                crate::backfill::ensure(&self.core.db, &self.redis, &self.keys, &session.stop).await?;
            }
            Ok(outcome) => {
                span.record("outcome", format!("{outcome:?}").as_str());
                self.count(&batch, outcome);
                delivery.ack(BasicAckOptions::default()).await?;
            }
            Err(e) if !refused(&e) => {
                tracing::warn!(event = "aggregator_apply_failed", error = %e, "Redis is unavailable; will retry");
                self.retry_later(delivery).await?;
            }
            Err(e) => self.refused(delivery, &id, &batch, &e, session).await?,
        }
        Ok(())
    }

    /// A batch the script refused: republished with one more attempt counted, or dead-lettered and counted
    /// once it was refused [`MAX_APPLY_ATTEMPTS`] times.
    async fn refused(
        &self,
        delivery: &Delivery,
        id: &str,
        batch: &EventBatch,
        e: &RedisError,
        session: &Session,
    ) -> anyhow::Result<()> {
        let attempts = kit::amqp::attempts(delivery) + 1;
        if attempts >= MAX_APPLY_ATTEMPTS {
            tracing::error!(event = "aggregator_batch_dead_lettered", message_id = %id, attempts, error = %e);
            delivery.reject(BasicRejectOptions { requeue: false }).await?;
            AnalyticsMetrics::of(&self.core.metrics).count_events("dead_lettered", batch.events.len());
            return Ok(());
        }
        tracing::warn!(event = "aggregator_batch_refused", message_id = %id, attempts, error = %e, "will retry");
        let msg = kit::amqp::Outgoing {
            exchange: &self.names.exchange,
            routing_key: topology::ROUTING_KEY,
            message_id: id,
            payload: &delivery.data,
            headers: kit::amqp::attempts_headers(delivery, attempts),
        };
        match kit::amqp::publish(&session.republish, msg).await {
            Ok(()) => {
                delivery.ack(BasicAckOptions::default()).await?;
            }
            Err(_) => self.retry_later(delivery).await?,
        }
        Ok(())
    }

    /// Puts the message back after a pause (Redis down, or a backfill running).
    async fn retry_later(&self, delivery: &Delivery) -> anyhow::Result<()> {
        tokio::time::sleep(RETRY).await;
        delivery.nack(BasicNackOptions { requeue: true, ..Default::default() }).await?;
        Ok(())
    }

    fn count(&self, batch: &EventBatch, outcome: Applied) {
        let m = AnalyticsMetrics::of(&self.core.metrics);
        if outcome == Applied::Yes {
            m.count_events("aggregated", batch.events.len());
        }
        let lag = (Utc::now() - batch.ingested_at).as_seconds_f64().max(0.0);
        m.aggregator_lag.set(lag);
    }
}

/// What one consumer connection hands to the processing of each delivery.
struct Session {
    /// A confirm channel to republish refused batches on, with their attempt count.
    republish: lapin::Channel,
    /// The process's stop signal (a rebuild waiting for another aggregator gives up on it).
    stop: CancellationToken,
}

/// Whether the apply script refused the batch (rather than Redis being unreachable or busy): validation
/// (`INVALID`), a key of the wrong type, or a script runtime error.
fn refused(e: &RedisError) -> bool {
    matches!(e.code(), Some("INVALID" | "WRONGTYPE" | "ERR"))
}

/// Every second, moves each rolling window up to the current bucket.
async fn roll_windows(redis: RedisConn, keys: Keys, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while !stop.is_cancelled() {
        tick.tick().await;
        let now = Utc::now();
        for w in Window::ALL {
            if let Err(e) = buckets::roll(&redis, &keys, w.range_at(now)).await {
                tracing::debug!(event = "roll_failed", window = w.as_str(), error = %e);
            }
        }
    }
}
