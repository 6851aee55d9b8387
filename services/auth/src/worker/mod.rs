//! `auth email-worker`: sends verification emails from RabbitMQ (service name `email-worker`).
//!
//! For each message, with manual acknowledgement:
//! 1. unreadable (no message id, invalid JSON) -> rejected straight into the dead-letter queue;
//! 2. already in `auth.processed_messages` (a redelivery after a crash between commit and ack) -> ack;
//! 3. send to the provider with the message id as idempotency key, bounded by the worker's own timeout
//!    (`AUTH_EMAIL_TIMEOUT_MS`, whatever `auth.email_timeout_ms` says), and through the breaker when
//!    `auth.email_circuit_breaker` is on: while it is open the message waits, without spending an
//!    attempt, and the ones behind it stay in the queue. These retries are the queue's (step 5), not
//!    `auth.retry_policy`'s, which governs the signup's own call;
//! 4. accepted -> one transaction records the message id in `auth.processed_messages` and stamps
//!    `email_verifications.sent_at`; then ack;
//! 5. failed -> republished to a wait queue of its attempt (exponential backoff + jitter), the failed
//!    attempts counted in shoplab's own `shoplab-attempts` header ([`retry`]), and acked; or, after the last attempt
//!    (or a permanent 4xx), rejected into the dead-letter queue.
//!
//! Killed at any point, nothing is lost (unacked messages are redelivered) and nothing is sent twice:
//! a message processed before the crash is skipped at step 2, and one killed between the provider's
//! answer and the commit is resent with the same idempotency key, which the provider deduplicates.

pub mod retry;

use std::sync::Arc;

use futures::StreamExt;
use kit::app::Core;
use kit::db::traced;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions};
use lapin::types::{FieldTable, ShortString};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::email::topology::Topology;
use crate::email::{ProviderClient, SendFailure, VerificationEmail, count, within};
use crate::levers::email_circuit_breaker::{SharedBreaker, worker_guard};
use crate::settings::Settings;

/// Name used in metrics, traces and logs.
pub const SERVICE: &str = "email-worker";

/// What became of one delivery.
#[derive(Debug)]
enum Outcome {
    /// The provider accepted it now.
    Sent,
    /// It had been processed before (redelivery).
    AlreadySent,
    /// It cannot be read: straight to the DLQ.
    Poison(String),
    /// This attempt failed (provider, timeout, or the database around it).
    Failed {
        /// Retrying cannot help.
        permanent: bool,
        reason: String,
    },
}

impl Outcome {
    fn transient(reason: impl ToString) -> Self {
        Outcome::Failed { permanent: false, reason: reason.to_string() }
    }
}

impl From<SendFailure> for Outcome {
    fn from(e: SendFailure) -> Self {
        Outcome::Failed { permanent: e.is_permanent(), reason: e.to_string() }
    }
}

/// The worker's parts, shared by the deliveries it processes concurrently.
pub struct Worker {
    core: Core,
    settings: Settings,
    topology: Topology,
    provider: ProviderClient,
    /// Its own breaker (each process has one).
    breaker: SharedBreaker,
}

/// Consumes until `stop` is cancelled, reconnecting after failures.
pub async fn run(core: Core, settings: Settings, stop: CancellationToken) -> anyhow::Result<()> {
    let worker = Arc::new(Worker::new(core, settings)?);
    kit::worker::keep_running(SERVICE, &stop, || worker.clone().session(stop.clone())).await;
    Ok(())
}

impl Worker {
    fn new(core: Core, settings: Settings) -> anyhow::Result<Self> {
        let topology = Topology::new(&core.config.amqp_prefix, &settings.email);
        let provider = ProviderClient::new(&settings.email_provider_url)?;
        let breaker = SharedBreaker::new(settings.breaker, core.metrics.clone());
        Ok(Self { core, settings, topology, provider, breaker })
    }

    /// One connection: consume with `concurrency` messages in flight until stopped or disconnected.
    async fn session(self: Arc<Self>, stop: CancellationToken) -> anyhow::Result<()> {
        let conn = kit::amqp::connect(&self.core.config.amqp_url).await?;
        let ch = kit::amqp::confirm_channel(&conn).await?;
        self.topology.declare(&ch).await?;
        let n = self.settings.email.concurrency;
        ch.basic_qos(n, BasicQosOptions::default()).await?;
        let tag = ShortString::from(format!("email-worker-{}", Uuid::now_v7()));
        let queue = ShortString::from(self.topology.queue.clone());
        let consumer = ch.basic_consume(queue, tag.clone(), BasicConsumeOptions::default(), FieldTable::default()).await?;
        tracing::info!(event = "worker_started", queue = %self.topology.queue, concurrency = n);
        let work = consumer.for_each_concurrent(usize::from(n), |d| {
            let me = self.clone();
            let ch = ch.clone();
            async move {
                match d {
                    Ok(delivery) => me.on_delivery(&ch, delivery).await,
                    Err(e) => tracing::warn!(event = "consume_failed", error = %e),
                }
            }
        });
        tokio::pin!(work);
        tokio::select! {
            _ = &mut work => anyhow::bail!("the consumer stopped (connection to RabbitMQ lost?)"),
            _ = stop.cancelled() => {
                // stop taking messages, let the ones in flight finish (the harness's drain deadline)
                let _ = ch.basic_cancel(tag, BasicCancelOptions::default()).await;
                let _ = tokio::time::timeout(kit::worker::DRAIN, &mut work).await;
            }
        }
        let _ = conn.close(200, "worker stopping".into()).await;
        Ok(())
    }

    /// Processes one delivery inside a span continuing the signup's trace.
    async fn on_delivery(&self, ch: &lapin::Channel, delivery: Delivery) {
        let span = kit::amqp::consume_span(&self.topology.queue, &delivery);
        async {
            let attempt = retry::attempt_of(&delivery);
            let outcome = self.attempt(&delivery).await;
            if let Err(e) = self.settle(ch, &delivery, attempt, outcome).await {
                // not acked: RabbitMQ redelivers it, and step 2 or the idempotency key absorbs the repeat
                tracing::warn!(event = "settle_failed", error = %format!("{e:#}"));
            }
        }
        .instrument(span)
        .await
    }

    /// Steps 1 to 4.
    async fn attempt(&self, delivery: &Delivery) -> Outcome {
        let id = delivery.properties.message_id().as_ref().and_then(|m| Uuid::parse_str(m.as_str()).ok());
        let Some(id) = id else { return Outcome::Poison("no message id".into()) };
        let email: VerificationEmail = match serde_json::from_slice(&delivery.data) {
            Ok(e) => e,
            Err(e) => return Outcome::Poison(format!("unreadable payload: {e}")),
        };
        match self.already_processed(id).await {
            Ok(true) => return Outcome::AlreadySent,
            Ok(false) => {}
            Err(e) => return Outcome::transient(e),
        }
        let key = email.idempotency_key.clone().unwrap_or_else(|| id.to_string());
        let timeout = self.settings.email.timeout;
        let send = || within(timeout, self.provider.send(&email, Some(&key)));
        if let Err(e) = worker_guard(&self.core.flags, &self.breaker, &self.core.metrics, send).await {
            return e.into();
        }
        if let Err(e) = self.mark_processed(id, email.token.as_deref()).await {
            // accepted but not recorded: a retry resends with the same key, which the provider absorbs
            tracing::warn!(event = "mark_processed_failed", error = %e);
            return Outcome::transient(e);
        }
        crate::metrics::AuthMetrics::of(&self.core.metrics).email_delivery.observe(email.age_secs());
        Outcome::Sent
    }

    async fn already_processed(&self, id: Uuid) -> Result<bool, sqlx::Error> {
        const SQL: &str = "select exists (select 1 from auth.processed_messages where message_id = $1)";
        traced(SQL, sqlx::query_scalar(SQL).bind(id).fetch_one(&self.core.db.pool)).await
    }

    /// Records the message as processed and the email as sent, in one transaction.
    async fn mark_processed(&self, id: Uuid, token: Option<&str>) -> Result<(), sqlx::Error> {
        const PROCESSED: &str = "insert into auth.processed_messages (message_id) values ($1) on conflict do nothing";
        let mut tx = self.core.db.begin().await?;
        traced(PROCESSED, sqlx::query(PROCESSED).bind(id).execute(&mut *tx)).await?;
        crate::email::outbox::mark_sent(&mut tx, token).await?;
        tx.commit().await
    }

    /// Step 5: ack, retry later, or dead-letter; counts `shoplab_email_send_total{result}`.
    async fn settle(&self, ch: &lapin::Channel, delivery: &Delivery, attempt: u32, outcome: Outcome) -> anyhow::Result<()> {
        let metrics = &self.core.metrics;
        match outcome {
            Outcome::Sent => {
                delivery.acker.ack(BasicAckOptions::default()).await?;
                count(metrics, "sent");
            }
            Outcome::AlreadySent => {
                delivery.acker.ack(BasicAckOptions::default()).await?;
            }
            Outcome::Poison(why) => {
                tracing::error!(event = "email_dead_lettered", reason = %why, "unreadable message sent to the DLQ");
                self.dead_letter(delivery).await?;
            }
            Outcome::Failed { permanent, reason } => {
                count(metrics, "failed");
                if permanent || attempt >= self.settings.email.max_attempts {
                    tracing::error!(event = "email_dead_lettered", attempt, error = %reason, "giving up: to the DLQ");
                    self.dead_letter(delivery).await?;
                } else {
                    tracing::warn!(event = "email_retry", attempt, error = %reason);
                    retry::republish(ch, delivery, &self.topology, attempt).await?;
                    delivery.acker.ack(BasicAckOptions::default()).await?;
                    count(metrics, "retried");
                }
            }
        }
        Ok(())
    }

    /// Rejects without requeue: the main queue's dead-letter exchange routes it to the DLQ.
    async fn dead_letter(&self, delivery: &Delivery) -> anyhow::Result<()> {
        delivery.acker.reject(BasicRejectOptions { requeue: false }).await?;
        count(&self.core.metrics, "dead_lettered");
        Ok(())
    }
}
