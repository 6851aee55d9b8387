//! `POST /events`: batch ingest.
//!
//! A batch is validated, inserted into `analytics.events` and announced to the aggregator through the
//! transactional outbox in **one** transaction: either the events and their message both exist or neither
//! does, so the aggregator can never miss an event that a dashboard's SQL would count. Client-supplied ids
//! make retries safe: `on conflict (id) do nothing` skips events already stored, and only the rows this
//! statement really inserted go into the message, so a retried batch is never counted twice downstream.

pub mod validate;

use std::collections::HashSet;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use kit::ApiResult;
use kit::db::{Db, traced};
use kit::extract::Json;
use kit::outbox::enqueue;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::metrics::AnalyticsMetrics;
use crate::state::AppState;
use crate::topology::{EventBatch, EventRecord, ROUTING_KEY};
use validate::{BatchIn, Event};

/// Answer of `POST /events`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    /// Events stored by this request.
    pub accepted: usize,
    /// Events whose id was already stored (a retried batch); ignored.
    pub duplicates: usize,
}

/// Stores a batch of events and queues it for the aggregator.
#[utoipa::path(
    post,
    path = "/events",
    tag = "analytics",
    request_body = BatchIn,
    responses(
        (status = 202, description = "Stored and queued for the aggregator", body = Accepted),
        (status = 400, description = "Malformed JSON"),
        (status = 422, description = "Invalid batch or event; the message names the offending index"),
    )
)]
#[tracing::instrument(skip_all, fields(events, inserted))]
pub async fn ingest(State(state): State<AppState>, Json(batch): Json<BatchIn>) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let events = validate::validate(batch, Utc::now())?;
    tracing::Span::current().record("events", events.len());
    let total = events.len();
    let inserted = store(&state.db, &state.names.exchange, events).await?;
    tracing::Span::current().record("inserted", inserted);
    AnalyticsMetrics::of(&state.metrics).count_events("ingested", inserted);
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted: inserted, duplicates: total - inserted })))
}

const INSERT: &str = "insert into analytics.events (id, occurred_at, type, product_id, user_id, session_id, amount_cents) \
     select * from unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::int8[], $5::int8[], $6::text[], $7::int8[]) \
     on conflict (id) do nothing returning id";

/// Inserts the events and enqueues the ones actually inserted, in one transaction; returns how many.
async fn store(db: &Db, exchange: &str, events: Vec<Event>) -> Result<usize, sqlx::Error> {
    let mut tx = db.begin().await?;
    let query = sqlx::query_scalar(INSERT)
        .bind(events.iter().map(|e| e.id).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.product_id).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.user_id).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.session_id.as_str()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.amount_cents).collect::<Vec<_>>());
    let inserted: HashSet<Uuid> = traced(INSERT, query.fetch_all(&mut *tx)).await?.into_iter().collect();
    if !inserted.is_empty() {
        let batch = EventBatch {
            ingested_at: Utc::now(),
            events: events.iter().filter(|e| inserted.contains(&e.id)).map(record).collect(),
        };
        let payload = serde_json::to_value(&batch).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        enqueue(&mut tx, &crate::relay::OUTBOX, exchange, ROUTING_KEY, &payload).await?;
    }
    tx.commit().await?;
    Ok(inserted.len())
}

fn record(e: &Event) -> EventRecord {
    EventRecord { id: e.id, occurred_at: e.occurred_at, kind: e.kind, product_id: e.product_id, amount_cents: e.amount_cents }
}
