//! The transactional outbox shared by auth (verification emails) and analytics (events).
//!
//! A business change and the message announcing it are written in **one** Postgres transaction
//! ([`enqueue`]); the [`Relay`] later publishes unpublished rows to RabbitMQ with publisher confirms and
//! marks them. Rows are claimed with `FOR UPDATE SKIP LOCKED`, so several relays can run side by side,
//! and a relay that dies mid-batch leaves its rows unmarked for the next one: delivery is at least once,
//! and consumers are idempotent by message id. The row keeps the writer's `traceparent`, so the trace of
//! a signup continues through the relay into the consumer.

use std::time::Duration;

use serde_json::Value;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

use crate::amqp::{Outgoing, publish};
use crate::db::{Db, traced};
use crate::metrics::Metrics;

/// Which outbox table; each has the same columns (migrations 0003 and 0004).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Auth,
    Analytics,
}

macro_rules! sql_for {
    ($t:literal) => {
        Sql {
            insert: concat!(
                "insert into ",
                $t,
                " (message_id, exchange, routing_key, payload, traceparent) values ($1, $2, $3, $4, $5)"
            ),
            claim: concat!(
                "select id, message_id, exchange, routing_key, payload, traceparent from ",
                $t,
                " where published_at is null order by id limit $1 for update skip locked"
            ),
            mark: concat!("update ", $t, " set published_at = now() where id = any($1)"),
            pending: concat!("select count(*) from ", $t, " where published_at is null"),
            notify: concat!("select pg_notify('", $t, "', '')"),
            channel: $t,
        }
    };
}

struct Sql {
    insert: &'static str,
    claim: &'static str,
    mark: &'static str,
    pending: &'static str,
    notify: &'static str,
    /// NOTIFY channel that wakes relays.
    channel: &'static str,
}

impl Table {
    fn sql(self) -> Sql {
        match self {
            Table::Auth => sql_for!("auth.outbox"),
            Table::Analytics => sql_for!("analytics.outbox"),
        }
    }
}

/// Writes a message into the outbox inside the caller's transaction; returns its message id.
pub async fn enqueue(
    tx: &mut sqlx::PgConnection,
    table: Table,
    exchange: &str,
    routing_key: &str,
    payload: &Value,
) -> Result<Uuid, sqlx::Error> {
    let sql = table.sql();
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

/// Publishes outbox rows to RabbitMQ.
pub struct Relay {
    pub db: Db,
    pub table: Table,
    pub channel: lapin::Channel,
    pub metrics: Metrics,
    /// Rows claimed per transaction.
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
        let mut listener = PgListener::connect_with(&self.db.pool).await?;
        listener.listen(self.table.sql().channel).await?;
        while !stop.is_cancelled() {
            let n = self.relay_batch().await?;
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

    /// Claims, publishes and marks one batch; returns how many rows were published.
    pub async fn relay_batch(&self) -> anyhow::Result<usize> {
        let sql = self.table.sql();
        let mut tx = self.db.begin().await?;
        let rows: Vec<Row> = traced(sql.claim, sqlx::query_as(sql.claim).bind(self.batch).fetch_all(&mut *tx)).await?;
        let mut done = Vec::with_capacity(rows.len());
        let mut failure = None;
        for row in &rows {
            match self.publish_row(row).await {
                Ok(()) => done.push(row.id),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if !done.is_empty() {
            traced(sql.mark, sqlx::query(sql.mark).bind(&done).execute(&mut *tx)).await?;
        }
        tx.commit().await?;
        self.metrics.analytics_events_published(self.table, &rows[..done.len()]);
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

    /// Updates `shoplab_outbox_pending`.
    pub async fn refresh_pending(&self) {
        let sql = self.table.sql();
        if let Ok(n) = sqlx::query_scalar::<_, i64>(sql.pending).fetch_one(&self.db.pool).await {
            self.metrics.outbox_pending.set(n);
        }
    }
}

impl Metrics {
    /// Counts the events (not the rows) published: an analytics row carries a whole batch in `events`, so
    /// `published` compares with `ingested` and `aggregated`, which count events too.
    fn analytics_events_published(&self, table: Table, rows: &[Row]) {
        if table != Table::Analytics {
            return;
        }
        let n: usize = rows.iter().map(|r| r.payload.get("events").and_then(Value::as_array).map_or(1, Vec::len)).sum();
        if n > 0 {
            self.analytics_events.get_or_create(&crate::metrics::StageLabels { stage: "published" }).inc_by(n as u64);
        }
    }
}
