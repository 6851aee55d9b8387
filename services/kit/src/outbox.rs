//! The transactional outbox: a service that must announce a change writes the message in the same
//! transaction as the change, and a relay process publishes it.
//!
//! Each service has its own outbox table (the same columns, created by the service's migration) and says
//! which with [`outbox!`](crate::outbox!), which builds the statements at compile time:
//! `pub const OUTBOX: Outbox = kit::outbox!("orders.outbox");` — optionally with
//! [`Outbox::on_published`], a function counting what the broker confirmed in the service's own metrics.
//!
//! A business change and the message announcing it are written in **one** Postgres transaction
//! ([`enqueue`]); the [`Relay`] later publishes unpublished rows to RabbitMQ with publisher confirms and
//! marks them. The row keeps the writer's `traceparent`, so the trace of a signup continues through the
//! relay into the consumer.
//!
//! Claiming holds no transaction open while publishing. A relay *leases* a batch — one `update ... set
//! claimed_until = now() + lease` over rows picked `FOR UPDATE SKIP LOCKED`, committed at once — then
//! publishes each row (every confirm bounded by `kit::amqp::CONFIRM_TIMEOUT`) and marks what the broker
//! confirmed. Several relays run side by side without taking the same rows; a relay killed mid-batch
//! leaves leases that run out after [`LEASE`], and its rows are published by the next relay: delivery is
//! at least once, and consumers are idempotent by message id. A broker that stops confirming costs one
//! timeout, not a transaction idle for ever.
//!
//! A row the broker refuses (unroutable, unknown exchange) does not block the rows behind it: it keeps
//! its lease (a back-off), its attempts and error are recorded, and after [`MAX_ATTEMPTS`] it is *parked*
//! (`parked_at`, `last_error`; counted by `shoplab_outbox_parked`, [`OutboxMetrics`]) for a human to look at. Each round of
//! the loop beats the process's [`crate::health::Liveness`], so `/readyz` reports a relay that stalls
//! (`crate::worker::STALL_AFTER`).

use std::time::Duration;

use serde_json::Value;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

use crate::amqp::{Outgoing, PublishError, publish};
use crate::db::{Db, traced};
use crate::metrics::{Families, Metrics};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// One service's outbox: its table's statements and what to do with the payloads the broker confirmed.
/// Built by [`outbox!`](crate::outbox!).
#[derive(Clone, Copy)]
pub struct Outbox {
    sql: Sql,
    /// Called after a batch was marked published, with the payloads the broker confirmed.
    on_published: fn(&Metrics, &[&Value]),
}

impl Outbox {
    #[doc(hidden)]
    pub const fn from_sql(sql: Sql) -> Self {
        Self { sql, on_published: |_, _| {} }
    }

    /// Runs `f` with the confirmed payloads of every batch (e.g. to count what a payload carries).
    pub const fn on_published(self, f: fn(&Metrics, &[&Value])) -> Self {
        Self { on_published: f, ..self }
    }

    /// The NOTIFY channel that wakes this outbox's relays (the table's name).
    pub fn channel(&self) -> &'static str {
        self.sql.channel
    }
}

/// `kit::outbox!("schema.table")`: the [`Outbox`] of a table with the outbox columns (`id`, `message_id`,
/// `exchange`, `routing_key`, `payload`, `traceparent`, `claimed_until`, `published_at`, `parked_at`,
/// `attempts`, `last_error`). The table name must be a literal: the statements are `&'static str`.
#[macro_export]
macro_rules! outbox {
    ($t:literal) => {
        $crate::outbox::Outbox::from_sql($crate::outbox::Sql {
            insert: concat!(
                "insert into ",
                $t,
                " (message_id, exchange, routing_key, payload, traceparent) values ($1, $2, $3, $4, $5)"
            ),
            claim: concat!(
                "update ",
                $t,
                " set claimed_until = now() + make_interval(secs => $2) where id in (select id from ",
                $t,
                " where published_at is null and parked_at is null and (claimed_until is null or claimed_until < now())",
                " order by id limit $1 for update skip locked)",
                " returning id, message_id, exchange, routing_key, payload, traceparent"
            ),
            mark: concat!("update ", $t, " set published_at = now(), claimed_until = null where id = any($1)"),
            release: concat!("update ", $t, " set claimed_until = null where id = any($1) and published_at is null"),
            refused: concat!(
                "update ",
                $t,
                " set attempts = attempts + 1, last_error = $2,",
                " parked_at = case when attempts + 1 >= $3 then now() end where id = $1"
            ),
            pending: concat!("select count(*) from ", $t, " where published_at is null and parked_at is null"),
            parked: concat!("select count(*) from ", $t, " where parked_at is not null"),
            notify: concat!("select pg_notify('", $t, "', '')"),
            channel: $t,
        })
    };
}

/// The statements of one outbox table (built by [`outbox!`](crate::outbox!)).
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Sql {
    pub insert: &'static str,
    /// Leases up to $1 claimable rows for $2 seconds; commits on its own.
    pub claim: &'static str,
    pub mark: &'static str,
    /// Gives leases back (the broker went away mid-batch): the rows are claimable again at once.
    pub release: &'static str,
    /// Records a refusal of row $1 with error $2; parks it at $3 attempts. Its lease is kept as back-off.
    pub refused: &'static str,
    pub pending: &'static str,
    pub parked: &'static str,
    pub notify: &'static str,
    /// NOTIFY channel that wakes relays.
    pub channel: &'static str,
}

/// The outbox gauges, registered in the processes that run a relay.
pub struct OutboxMetrics {
    /// Rows not yet published (`shoplab_outbox_pending`).
    pub pending: Gauge,
    /// Rows given up on after repeated refusals, kept with their error for inspection (`shoplab_outbox_parked`).
    pub parked: Gauge,
}

impl Families for OutboxMetrics {
    fn register(r: &mut Registry) -> Self {
        let m = Self { pending: Gauge::default(), parked: Gauge::default() };
        r.register("shoplab_outbox_pending", "Outbox rows not yet published", m.pending.clone());
        r.register("shoplab_outbox_parked", "Outbox rows parked after repeated refusals", m.parked.clone());
        m
    }
}

/// Writes a message into the outbox inside the caller's transaction; returns its message id.
pub async fn enqueue(
    tx: &mut sqlx::PgConnection,
    outbox: &Outbox,
    exchange: &str,
    routing_key: &str,
    payload: &Value,
) -> Result<Uuid, sqlx::Error> {
    let sql = &outbox.sql;
    let id = Uuid::now_v7();
    let tp = crate::propagation::current_traceparent();
    traced(
        sql.insert,
        sqlx::query(sql.insert).bind(id).bind(exchange).bind(routing_key).bind(payload).bind(tp).execute(&mut *tx),
    )
    .await?;
    traced(sql.notify, sqlx::query(sql.notify).execute(&mut *tx)).await?;
    Ok(id)
}

/// How long a claimed row belongs to the relay that claimed it (and the back-off of a refused row).
pub const LEASE: Duration = Duration::from_secs(15);
/// Refusals after which a row is parked instead of retried.
pub const MAX_ATTEMPTS: i32 = 5;

/// Publishes outbox rows to RabbitMQ.
pub struct Relay {
    pub db: Db,
    pub outbox: Outbox,
    pub channel: lapin::Channel,
    pub metrics: Metrics,
    /// Rows leased per claim.
    pub batch: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    message_id: Uuid,
    exchange: String,
    routing_key: String,
    payload: Value,
    traceparent: Option<String>,
}

impl Relay {
    /// Runs until `stop` is cancelled: drains the outbox, then waits for a NOTIFY or 1 s.
    pub async fn run(self, stop: CancellationToken) -> anyhow::Result<()> {
        let liveness = crate::health::Liveness::current();
        self.refresh_pending().await;
        let mut listener = PgListener::connect_with(&self.db.pool).await?;
        listener.listen(self.outbox.sql.channel).await?;
        while !stop.is_cancelled() {
            let n = self.relay_batch().await?;
            liveness.beat();
            if n as i64 >= self.batch {
                continue;
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::timeout(Duration::from_secs(1), listener.recv()) => {}
            }
        }
        Ok(())
    }

    /// Leases, publishes and marks one batch; returns how many rows were published. Fails (after giving
    /// back the leases of the rows it did not get to) when the broker connection is unusable.
    pub async fn relay_batch(&self) -> anyhow::Result<usize> {
        let sql = &self.outbox.sql;
        let lease = LEASE.as_secs_f64();
        let mut rows: Vec<Row> =
            traced(sql.claim, sqlx::query_as(sql.claim).bind(self.batch).bind(lease).fetch_all(&self.db.pool)).await?;
        rows.sort_by_key(|r| r.id);
        let mut done = Vec::with_capacity(rows.len());
        let mut failure = None;
        for (i, row) in rows.iter().enumerate() {
            match self.publish_row(row).await {
                Ok(()) => done.push(row.id),
                Err(e) if refused(&e) => self.record_refusal(row, &e).await?,
                Err(e) => {
                    let rest: Vec<i64> = rows[i..].iter().map(|r| r.id).collect();
                    let _ = traced(sql.release, sqlx::query(sql.release).bind(&rest).execute(&self.db.pool)).await;
                    failure = Some(e);
                    break;
                }
            }
        }
        if !done.is_empty() {
            traced(sql.mark, sqlx::query(sql.mark).bind(&done).execute(&self.db.pool)).await?;
        }
        let published: Vec<&Value> = rows.iter().filter(|r| done.contains(&r.id)).map(|r| &r.payload).collect();
        if !published.is_empty() {
            (self.outbox.on_published)(&self.metrics, &published);
        }
        self.refresh_pending().await;
        match failure {
            Some(e) => Err(e),
            None => Ok(done.len()),
        }
    }

    async fn publish_row(&self, row: &Row) -> anyhow::Result<()> {
        let span = tracing::info_span!("outbox.relay", otel.kind = "internal", messaging.message.id = %row.message_id);
        let _ = span.set_parent(crate::propagation::context_from_traceparent(row.traceparent.as_deref()));
        let payload = serde_json::to_vec(&row.payload)?;
        let msg = Outgoing {
            exchange: &row.exchange,
            routing_key: &row.routing_key,
            message_id: &row.message_id.to_string(),
            payload: &payload,
            headers: Default::default(),
        };
        publish(&self.channel, msg).instrument(span).await
    }

    /// Counts a refusal against `row`, parking it after [`MAX_ATTEMPTS`].
    async fn record_refusal(&self, row: &Row, e: &anyhow::Error) -> anyhow::Result<()> {
        let sql = &self.outbox.sql;
        let error = e.to_string();
        tracing::warn!(event = "outbox_row_refused", id = row.id, message_id = %row.message_id, error = %error);
        let q = sqlx::query(sql.refused).bind(row.id).bind(&error).bind(MAX_ATTEMPTS);
        traced(sql.refused, q.execute(&self.db.pool)).await?;
        Ok(())
    }

    /// Updates `shoplab_outbox_pending` and `shoplab_outbox_parked`.
    pub async fn refresh_pending(&self) {
        let sql = &self.outbox.sql;
        let gauges = self.metrics.families::<OutboxMetrics>();
        if let Ok(n) = sqlx::query_scalar::<_, i64>(sql.pending).fetch_one(&self.db.pool).await {
            gauges.pending.set(n);
        }
        if let Ok(n) = sqlx::query_scalar::<_, i64>(sql.parked).fetch_one(&self.db.pool).await {
            gauges.parked.set(n);
        }
    }
}

/// Whether the broker refused the message itself (rather than the connection failing).
fn refused(e: &anyhow::Error) -> bool {
    e.downcast_ref::<PublishError>().is_some_and(PublishError::is_refused)
}

#[cfg(all(test, feature = "test-support"))]
#[path = "outbox_tests.rs"]
mod tests;
