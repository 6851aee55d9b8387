//! Validation of an incoming batch. Every rule names the offending event by its index
//! (`events[3].product_id must be > 0`), so a client sending 1000 events knows which one to fix.

use std::collections::HashMap;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use kit::ApiError;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::topology::Kind;

/// Most events one request may carry.
pub const MAX_BATCH: usize = 1000;
/// How far in the future an event may be (client clocks drift).
pub const MAX_FUTURE: Duration = Duration::minutes(5);
/// How old an event may be: older ones fall outside every dashboard window.
pub const MAX_AGE: Duration = Duration::days(7);
/// Largest `amount_cents` of one event (100 000 000.00 in the shop's currency). Revenue is summed in
/// 64-bit integers in Postgres and in Redis buckets (whose scripts compute in doubles, exact up to 2^53):
/// with this bound no window of real traffic can overflow either, where one event of `i64::MAX` made
/// every dashboard over its window fail and the aggregator's script stop halfway through its batch.
/// The OpenAPI `maximum` of [`EventIn::amount_cents`] repeats this value (utoipa takes literals only).
pub const MAX_AMOUNT_CENTS: i64 = 10_000_000_000;

/// `POST /events` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BatchIn {
    /// 1 to 1000 events.
    #[schema(min_items = 1, max_items = 1000)]
    pub events: Vec<EventIn>,
}

/// One event as a client sends it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EventIn {
    /// Client-supplied id (makes retries idempotent); generated when absent.
    pub id: Option<Uuid>,
    /// `view`, `add_to_cart` or `order`.
    #[serde(rename = "type")]
    #[schema(pattern = "^(view|add_to_cart|order)$")]
    pub kind: String,
    /// The product concerned (> 0).
    #[schema(minimum = 1)]
    pub product_id: i64,
    pub user_id: Option<i64>,
    /// At most 200 bytes.
    #[schema(max_length = 200)]
    pub session_id: Option<String>,
    /// Order value in cents, 0 to 10 000 000 000; counted as revenue for `order` events. Default 0.
    #[schema(minimum = 0, maximum = 10_000_000_000_i64)]
    pub amount_cents: Option<i64>,
    /// When it happened; default now. At most 5 minutes ahead and 7 days back.
    pub occurred_at: Option<DateTime<Utc>>,
}

/// A validated event, ready to insert.
#[derive(Clone, Debug)]
pub struct Event {
    pub id: Uuid,
    /// Truncated to microseconds, Postgres' precision, so the bucket computed from the message equals the
    /// bucket SQL computes from the stored row.
    pub occurred_at: DateTime<Utc>,
    pub kind: Kind,
    pub product_id: i64,
    pub user_id: Option<i64>,
    pub session_id: String,
    pub amount_cents: i64,
}

/// Checks the whole batch against `now`; the first problem found is a 422 naming its index.
pub fn validate(batch: BatchIn, now: DateTime<Utc>) -> Result<Vec<Event>, ApiError> {
    let n = batch.events.len();
    if n == 0 || n > MAX_BATCH {
        let msg = format!("events must hold 1 to {MAX_BATCH} events (got {n})");
        return Err(ApiError::unprocessable("invalid_batch", msg));
    }
    let mut seen: HashMap<Uuid, usize> = HashMap::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    for (i, e) in batch.events.into_iter().enumerate() {
        let event = validate_one(e, now).map_err(|m| invalid(i, &m))?;
        if let Some(first) = seen.insert(event.id, i) {
            return Err(invalid(i, &format!("id duplicates events[{first}].id")));
        }
        out.push(event);
    }
    Ok(out)
}

fn invalid(index: usize, problem: &str) -> ApiError {
    ApiError::unprocessable("invalid_event", format!("events[{index}].{problem}"))
}

fn validate_one(e: EventIn, now: DateTime<Utc>) -> Result<Event, String> {
    let kind = Kind::parse(&e.kind).ok_or_else(|| format!("type must be one of view, add_to_cart, order (got '{}')", e.kind))?;
    if e.product_id <= 0 {
        return Err(format!("product_id must be > 0 (got {})", e.product_id));
    }
    let amount_cents = e.amount_cents.unwrap_or(0);
    if !(0..=MAX_AMOUNT_CENTS).contains(&amount_cents) {
        return Err(format!("amount_cents must be between 0 and {MAX_AMOUNT_CENTS} (got {amount_cents})"));
    }
    let occurred_at = e.occurred_at.unwrap_or(now).trunc_subsecs(6);
    if occurred_at > now + MAX_FUTURE {
        return Err(format!("occurred_at {occurred_at} is more than 5 minutes in the future"));
    }
    if occurred_at < now - MAX_AGE {
        return Err(format!("occurred_at {occurred_at} is older than 7 days"));
    }
    let session_id = e.session_id.unwrap_or_default();
    if session_id.len() > 200 {
        return Err("session_id must be at most 200 bytes".to_owned());
    }
    let id = e.id.unwrap_or_else(Uuid::now_v7);
    Ok(Event { id, occurred_at, kind, product_id: e.product_id, user_id: e.user_id, session_id, amount_cents })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, product_id: i64) -> EventIn {
        EventIn {
            id: None,
            kind: kind.into(),
            product_id,
            user_id: None,
            session_id: None,
            amount_cents: None,
            occurred_at: None,
        }
    }

    fn message(r: Result<Vec<Event>, ApiError>) -> String {
        r.err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn names_the_offending_index() {
        let now = Utc::now();
        let batch = BatchIn { events: vec![ev("view", 1), ev("view", 2), ev("click", 3)] };
        assert!(message(validate(batch, now)).starts_with("events[2].type"));
        let batch = BatchIn { events: vec![ev("view", 1), ev("order", 0)] };
        assert!(message(validate(batch, now)).starts_with("events[1].product_id"));
    }

    #[test]
    fn time_bounds_and_duplicates() {
        let now = Utc::now();
        let mut future = ev("view", 1);
        future.occurred_at = Some(now + Duration::minutes(6));
        assert!(message(validate(BatchIn { events: vec![future] }, now)).contains("future"));
        let mut old = ev("view", 1);
        old.occurred_at = Some(now - Duration::days(8));
        assert!(message(validate(BatchIn { events: vec![old] }, now)).contains("older"));
        let id = Uuid::now_v7();
        let (mut a, mut b) = (ev("view", 1), ev("view", 2));
        (a.id, b.id) = (Some(id), Some(id));
        assert!(message(validate(BatchIn { events: vec![a, b] }, now)).starts_with("events[1].id duplicates events[0]"));
    }

    #[test]
    fn amounts_are_bounded() {
        let now = Utc::now();
        let order = |amount| EventIn { amount_cents: Some(amount), ..ev("order", 1) };
        assert!(validate(BatchIn { events: vec![order(0), order(MAX_AMOUNT_CENTS)] }, now).is_ok());
        assert!(message(validate(BatchIn { events: vec![order(5), order(-1)] }, now)).starts_with("events[1].amount_cents"));
        let batch = BatchIn { events: vec![order(MAX_AMOUNT_CENTS + 1)] };
        assert!(message(validate(batch, now)).starts_with("events[0].amount_cents"));
        assert!(message(validate(BatchIn { events: vec![order(i64::MAX)] }, now)).starts_with("events[0].amount_cents"));
    }

    #[test]
    fn empty_and_oversized_batches_are_rejected() {
        assert!(validate(BatchIn { events: vec![] }, Utc::now()).is_err());
        let big = (0..1001).map(|i| ev("view", i + 1)).collect();
        assert!(validate(BatchIn { events: big }, Utc::now()).is_err());
    }
}
