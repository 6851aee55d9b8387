//! The pre-aggregates in Redis: what the aggregator writes and what the pre-aggregated dashboards read.
//!
//! Layout, under `<prefix>analytics:`:
//! - `m:<minute>` / `h:<hour>`: the counters of one bucket as one string, `"views carts orders
//!   revenue_cents"`, so a window's series is one `MGET`; they expire after the grain's retention (3 h of
//!   minutes, 8 days of hours);
//! - `mp:<minute>` / `hp:<hour>`: sorted set of product views in that bucket (expire with the retention);
//! - `w:<window>` + `w:<window>:range`: a *rolling* sorted set equal to the sum of the product sets of the
//!   window's buckets `first..=last`. Reads move it forward (subtract the buckets that left, add the ones
//!   that entered) and the aggregator adds to it in the same script that adds to a bucket, so the top 10
//!   of a 7-day window is one `ZREVRANGE` instead of a union of 168 sets per request;
//! - `applied:<message id>`: a batch already applied (kept 8 days), which makes redelivery harmless;
//! - `ready`: set once the backfill from Postgres is complete; until then reads fall back to SQL;
//! - `epoch`: bumped whenever the events are replaced (`shoplab seed`); a backfill that started under an
//!   older epoch does not set `ready`, so its counts of the replaced events are never served.
//!
//! Product members are encoded as `i64::MAX - id`, zero-padded: Redis orders equal scores by member in
//! reverse byte order, which with this encoding is *ascending* product id — the tie-break the SQL uses.

mod deltas;

use std::collections::HashMap;

use kit::redis::redis::{RedisResult, Value};

pub use deltas::Deltas;

use crate::dashboard::{Counts, TopProduct};
use crate::redis_conn::{Lua, RedisConn};
use crate::window::{Range, Window};

static APPLY: Lua = Lua::new(include_str!("apply.lua"));
static READ: Lua = Lua::new(include_str!("read.lua"));

/// How long an applied message id is remembered: longer than any event stays in a window.
pub const APPLIED_TTL_SECS: i64 = 8 * 24 * 3600;

/// The Redis key names of the pre-aggregates.
#[derive(Clone, Debug)]
pub struct Keys {
    /// `<redis_prefix>analytics:`; every key starts with it.
    pub base: String,
}

impl Keys {
    /// Keys under the lab's Redis prefix.
    pub fn new(redis_prefix: &str) -> Self {
        Self { base: format!("{redis_prefix}analytics:") }
    }

    /// The backfill-complete marker.
    pub fn ready(&self) -> String {
        format!("{}ready", self.base)
    }

    /// The events' epoch, bumped by every reset (see the module doc).
    pub fn epoch(&self) -> String {
        format!("{}epoch", self.base)
    }

    /// The backfill lock (only one aggregator backfills).
    pub fn backfill_lock(&self) -> String {
        format!("{}backfill-lock", self.base)
    }

    /// The marker of one applied message.
    pub fn applied(&self, message_id: &str) -> String {
        format!("{}applied:{message_id}", self.base)
    }
}

/// Encodes a product id as a sorted-set member (see the module doc).
pub fn member(product_id: i64) -> String {
    format!("{:019}", i64::MAX - product_id)
}

/// Decodes a sorted-set member back into a product id.
pub fn product_of(member: &str) -> Option<i64> {
    member.parse::<i64>().ok().map(|m| i64::MAX - m)
}

/// What became of one apply call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Added to the buckets.
    Yes,
    /// This message id was applied before (a redelivery); nothing changed.
    Duplicate,
    /// The backfill is not complete; nothing changed, retry later.
    NotReady,
}

/// Applies `deltas` once per `message_id`, and only after the backfill; `None` (the backfill itself)
/// applies unconditionally.
pub async fn apply(redis: &RedisConn, keys: &Keys, message_id: Option<&str>, deltas: &Deltas) -> RedisResult<Applied> {
    let json = deltas.to_json();
    let ttl = APPLIED_TTL_SECS.to_string();
    let args: [&[u8]; 4] = [keys.base.as_bytes(), message_id.unwrap_or("").as_bytes(), ttl.as_bytes(), json.as_bytes()];
    let reply: i64 = APPLY.run(redis, "EVALSHA analytics.apply", &keys.base, &args).await?;
    Ok(match reply {
        1 => Applied::Yes,
        0 => Applied::Duplicate,
        _ => Applied::NotReady,
    })
}

/// One window read from the pre-aggregates.
#[derive(Debug)]
pub struct WindowRead {
    /// The buckets actually read (the newest may be ahead of the caller's clock, never behind).
    pub range: Range,
    pub buckets: HashMap<i64, Counts>,
    pub top: Vec<TopProduct>,
}

/// Moves `window` up to `range.last` and reads it; `None` while the backfill is not complete.
pub async fn read(redis: &RedisConn, keys: &Keys, range: Range, top_n: usize) -> RedisResult<Option<WindowRead>> {
    let reply: Value = READ.run(redis, "EVALSHA analytics.read", &keys.base, &read_args(keys, range, top_n).each()).await?;
    Ok(parse_read(range.window, reply))
}

/// Moves `window` up to `range.last` without reading it (the aggregator's ticker); false before the backfill.
pub async fn roll(redis: &RedisConn, keys: &Keys, range: Range) -> RedisResult<bool> {
    let reply: Value = READ.run(redis, "EVALSHA analytics.roll", &keys.base, &read_args(keys, range, 0).each()).await?;
    Ok(!matches!(reply, Value::Nil))
}

/// The rolling windows, as the apply script needs them (`[[name, tag], ...]`).
pub fn windows_json() -> serde_json::Value {
    serde_json::Value::Array(Window::ALL.iter().map(|w| serde_json::json!([w.as_str(), w.grain().tag()])).collect())
}

/// How far a window may be rolled bucket by bucket: not past its own size, and not so far that the bucket
/// leaving it has already expired (it must still exist to be subtracted).
fn max_roll(w: Window) -> i64 {
    (w.size() - 1).min(w.grain().retention() - w.size())
}

struct ReadArgs([String; 7]);

impl ReadArgs {
    fn each(&self) -> [&[u8]; 7] {
        let a = &self.0;
        [a[0].as_bytes(), a[1].as_bytes(), a[2].as_bytes(), a[3].as_bytes(), a[4].as_bytes(), a[5].as_bytes(), a[6].as_bytes()]
    }
}

fn read_args(keys: &Keys, range: Range, top_n: usize) -> ReadArgs {
    let w = range.window;
    ReadArgs([
        keys.base.clone(),
        w.as_str().to_owned(),
        w.grain().tag().to_owned(),
        w.size().to_string(),
        max_roll(w).to_string(),
        range.last.to_string(),
        top_n.to_string(),
    ])
}

fn parse_read(window: Window, reply: Value) -> Option<WindowRead> {
    let Value::Array(parts) = reply else { return None };
    let last = as_i64(parts.first()?)?;
    let range = window.range_ending(last);
    let top = match parts.get(1) {
        Some(Value::Array(flat)) => flat.chunks(2).filter_map(top_entry).collect(),
        _ => Vec::new(),
    };
    let mut buckets = HashMap::new();
    if let Some(Value::Array(series)) = parts.get(2) {
        for (b, v) in range.buckets().zip(series) {
            if let Some(c) = as_string(v).as_deref().and_then(parse_counts) {
                buckets.insert(b, c);
            }
        }
    }
    Some(WindowRead { range, buckets, top })
}

/// `"views carts orders revenue"` as stored by `apply.lua`.
fn parse_counts(packed: &str) -> Option<Counts> {
    let mut n = packed.split(' ').map(|x| x.parse::<i64>().ok());
    Some(Counts { views: n.next()??, add_to_cart: n.next()??, orders: n.next()??, revenue_cents: n.next()?? })
}

fn top_entry(pair: &[Value]) -> Option<TopProduct> {
    let product_id = product_of(&as_string(pair.first()?)?)?;
    let views = as_string(pair.get(1)?)?.parse::<f64>().ok()? as i64;
    Some(TopProduct { product_id, views })
}

fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Double(d) => Some(d.to_string()),
        _ => None,
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        other => as_string(other)?.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_sort_ties_by_ascending_id_in_reverse_byte_order() {
        let (a, b) = (member(7), member(42));
        assert!(a > b, "reverse byte order must list product 7 before 42");
        assert_eq!(product_of(&a), Some(7));
        assert_eq!(product_of(&member(1)), Some(1));
    }

    #[test]
    fn rolls_stay_within_size_and_retention() {
        assert_eq!(max_roll(Window::D7), 24);
        assert_eq!(max_roll(Window::M15), 14);
    }
}
