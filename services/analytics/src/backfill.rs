//! The first start of the aggregator: building the buckets from the events already in Postgres.
//!
//! The hard part is the seam between the backfill and the stream. An event ingested around start-up is
//! both a row the backfill can see and a message in the queue; counted by both it would be counted
//! twice, counted by neither it would be lost. The scheme:
//!
//! 1. Everything under the key base is deleted first, so a backfill that died half-way is simply redone.
//! 2. One `REPEATABLE READ` snapshot reads the per-bucket sums of the events **and** the ids of the outbox
//!    messages. Events and their message are written in one transaction, so a batch is either visible in
//!    the snapshot with its message or absent with it.
//! 3. The sums are written into the buckets, and every message id of the snapshot is marked applied, under
//!    the same `applied:<id>` keys the consumer deduplicates on.
//! 4. `ready` is set last. The apply script refuses consumer batches while `ready` is missing (the consumer
//!    requeues them), so nothing is applied on top of a half-built state; afterwards a message whose batch
//!    the snapshot counted is skipped as already applied, and one committed after the snapshot is applied.
//!
//! Only one aggregator backfills (a lock with a TTL refreshed per chunk); others wait for `ready`.
//!
//! Re-seeding replaces the events under the buckets' feet, so [`reset`] (called by `shoplab seed` after it
//! reloaded the events, and by `analytics aggregator --rebuild`) deletes `ready` and bumps `epoch` in one
//! atomic step. A running aggregator sees "not ready" on its next batch and rebuilds; a backfill already
//! running when the reset came read the old events, and finds the epoch changed when it is about to set
//! `ready`, so it starts over instead of publishing stale counts.

use std::time::Duration;

use chrono::{DateTime, Utc};
use kit::db::{Db, traced};
use kit::redis::redis::{self, RedisResult};
use tokio_util::sync::CancellationToken;

use crate::buckets::{self, APPLIED_TTL_SECS, Deltas, Keys};
use crate::dashboard::Counts;
use crate::redis_conn::RedisConn;
use crate::window::Grain;

/// Script entries per apply call: big enough to be quick, small enough not to block Redis for long.
const CHUNK: usize = 5_000;
/// Lifetime of the backfill lock; refreshed after every chunk, so a dead backfiller frees it quickly.
const LOCK_MS: u64 = 60_000;

/// Whether the backfill has completed (the `ready` marker exists).
pub async fn is_ready(redis: &RedisConn, keys: &Keys) -> RedisResult<bool> {
    let mut c = redis.get().await?;
    redis::cmd("EXISTS").arg(keys.ready()).query_async(&mut c).await
}

/// Forgets the pre-aggregates: deletes `ready` and bumps `epoch` atomically, so the buckets are rebuilt
/// from Postgres (by a running aggregator at its next batch, or by the next one to start) and any backfill
/// in flight does not mark its outdated result ready.
pub async fn reset(redis: &RedisConn, keys: &Keys) -> RedisResult<()> {
    let mut c = redis.get().await?;
    redis::pipe().atomic().cmd("INCR").arg(keys.epoch()).ignore().cmd("DEL").arg(keys.ready()).ignore().query_async(&mut c).await
}

/// Returns once the buckets are backfilled, doing the backfill if no other aggregator is.
pub async fn ensure(db: &Db, redis: &RedisConn, keys: &Keys, stop: &CancellationToken) -> anyhow::Result<()> {
    loop {
        if is_ready(redis, keys).await? {
            return Ok(());
        }
        if lock(redis, keys).await? {
            let res = run(db, redis, keys).await;
            let _ = unlock(redis, keys).await;
            match res {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    tracing::info!(event = "backfill_superseded", "the events were replaced during the backfill; again");
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        tracing::info!(event = "backfill_wait", "another aggregator is backfilling; waiting");
        tokio::select! {
            _ = stop.cancelled() => anyhow::bail!("stopped while waiting for the backfill"),
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Sets `ready` to `marker` only if `epoch` still holds the value the backfill started under.
const SET_READY: &str = "if (redis.call('GET', ARGV[1]) or '0') ~= ARGV[2] then return 0 end \
     redis.call('SET', ARGV[3], ARGV[4]) return 1";

async fn epoch(redis: &RedisConn, keys: &Keys) -> RedisResult<String> {
    let mut c = redis.get().await?;
    let e: Option<String> = redis::cmd("GET").arg(keys.epoch()).query_async(&mut c).await?;
    Ok(e.unwrap_or_else(|| "0".to_owned()))
}

/// Rebuilds every bucket from one snapshot; false when the events were reset meanwhile (nothing marked ready).
#[tracing::instrument(skip_all, fields(events, messages))]
async fn run(db: &Db, redis: &RedisConn, keys: &Keys) -> anyhow::Result<bool> {
    // read before the snapshot: a reset after this point changes it, and is seen below
    let started_under = epoch(redis, keys).await?;
    wipe(redis, keys).await?;
    let mut tx = db.begin().await?;
    const ISOLATION: &str = "set transaction isolation level repeatable read, read only";
    traced(ISOLATION, sqlx::query(ISOLATION).execute(&mut *tx)).await?;
    const NOW: &str = "select now()";
    let now: DateTime<Utc> = traced(NOW, sqlx::query_scalar(NOW).fetch_one(&mut *tx)).await?;
    // the hour buckets cover the whole retention, so their sum is the number of events backfilled
    backfill_grain(&mut tx, redis, keys, Grain::Minute, now).await?;
    let events = backfill_grain(&mut tx, redis, keys, Grain::Hour, now).await?;
    let messages = mark_applied(&mut tx, redis, keys).await?;
    tx.commit().await?;
    let marker = serde_json::json!({ "snapshot_at": now, "events": events, "messages": messages }).to_string();
    let mut c = redis.get().await?;
    let set: i64 = redis::cmd("EVAL")
        .arg(SET_READY)
        .arg(0)
        .arg(keys.epoch())
        .arg(&started_under)
        .arg(keys.ready())
        .arg(marker)
        .query_async(&mut c)
        .await?;
    if set == 0 {
        return Ok(false);
    }
    tracing::Span::current().record("events", events).record("messages", messages);
    tracing::info!(event = "backfill_done", events, messages, snapshot_at = %now, "buckets backfilled from Postgres");
    Ok(true)
}

const COUNTS: &str = "select floor(extract(epoch from occurred_at) / $2)::int8 as bucket, \
     count(*) filter (where type = 'view'), count(*) filter (where type = 'add_to_cart'), \
     count(*) filter (where type = 'order'), coalesce(sum(amount_cents) filter (where type = 'order'), 0)::int8 \
     from analytics.events where occurred_at >= $1 group by 1";

const VIEWS: &str = "select floor(extract(epoch from occurred_at) / $2)::int8 as bucket, product_id, count(*) \
     from analytics.events where type = 'view' and occurred_at >= $1 group by 1, 2";

/// Sums one grain's buckets (those not yet expired at `now`) in the snapshot and applies them; returns the
/// events counted.
async fn backfill_grain(
    tx: &mut sqlx::PgConnection,
    redis: &RedisConn,
    keys: &Keys,
    grain: Grain,
    now: DateTime<Utc>,
) -> anyhow::Result<i64> {
    let since = grain.start(grain.bucket(now) - grain.retention() + 1);
    let counts: Vec<(i64, i64, i64, i64, i64)> =
        traced(COUNTS, sqlx::query_as(COUNTS).bind(since).bind(grain.secs()).fetch_all(&mut *tx)).await?;
    let views: Vec<(i64, i64, i64)> =
        traced(VIEWS, sqlx::query_as(VIEWS).bind(since).bind(grain.secs()).fetch_all(&mut *tx)).await?;
    let events = counts.iter().map(|c| c.1 + c.2 + c.3).sum();
    let mut chunk = Deltas::default();
    for (bucket, views, add_to_cart, orders, revenue_cents) in counts {
        chunk.add_counts(grain, bucket, Counts { views, add_to_cart, orders, revenue_cents });
        flush_if_full(&mut chunk, redis, keys).await?;
    }
    for (bucket, product, n) in views {
        chunk.add_views(grain, bucket, product, n);
        flush_if_full(&mut chunk, redis, keys).await?;
    }
    if !chunk.is_empty() {
        buckets::apply(redis, keys, None, &chunk).await?;
    }
    Ok(events)
}

async fn flush_if_full(chunk: &mut Deltas, redis: &RedisConn, keys: &Keys) -> anyhow::Result<()> {
    if chunk.len() >= CHUNK {
        buckets::apply(redis, keys, None, &std::mem::take(chunk)).await?;
        let mut c = redis.get().await?;
        let _: () = redis::cmd("PEXPIRE").arg(keys.backfill_lock()).arg(LOCK_MS).query_async(&mut c).await?;
    }
    Ok(())
}

/// Marks every message of the snapshot (recent enough to matter) as applied; returns how many.
async fn mark_applied(tx: &mut sqlx::PgConnection, redis: &RedisConn, keys: &Keys) -> anyhow::Result<usize> {
    const IDS: &str = "select message_id::text from analytics.outbox where created_at >= now() - interval '8 days'";
    let ids: Vec<String> = traced(IDS, sqlx::query_scalar(IDS).fetch_all(&mut *tx)).await?;
    let mut c = redis.get().await?;
    for chunk in ids.chunks(1000) {
        let mut pipe = redis::pipe();
        for id in chunk {
            pipe.cmd("SET").arg(keys.applied(id)).arg(1).arg("EX").arg(APPLIED_TTL_SECS).ignore();
        }
        let _: () = pipe.query_async(&mut c).await?;
    }
    Ok(ids.len())
}

/// Deletes every pre-aggregate key (not the lock, not the epoch), so a backfill always starts from nothing.
async fn wipe(redis: &RedisConn, keys: &Keys) -> anyhow::Result<()> {
    let mut c = redis.get().await?;
    let (pattern, lock, epoch) = (format!("{}*", keys.base), keys.backfill_lock(), keys.epoch());
    let mut cursor: u64 = 0;
    loop {
        let (next, found): (u64, Vec<String>) =
            redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000).query_async(&mut c).await?;
        let doomed: Vec<&String> = found.iter().filter(|k| **k != lock && **k != epoch).collect();
        if !doomed.is_empty() {
            let _: () = redis::cmd("UNLINK").arg(doomed).query_async(&mut c).await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

async fn lock(redis: &RedisConn, keys: &Keys) -> RedisResult<bool> {
    let mut c = redis.get().await?;
    let set: Option<String> =
        redis::cmd("SET").arg(keys.backfill_lock()).arg(1).arg("NX").arg("PX").arg(LOCK_MS).query_async(&mut c).await?;
    Ok(set.is_some())
}

async fn unlock(redis: &RedisConn, keys: &Keys) -> RedisResult<()> {
    let mut c = redis.get().await?;
    redis::cmd("DEL").arg(keys.backfill_lock()).query_async(&mut c).await
}
