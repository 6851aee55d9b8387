//! Lever `product.cache_warming` (+ `product.warm_top_n`) — book chapter "Caching Strategies" (warming).
//!
//! The book: the team added "cache warming of the most-accessed products on deployment", so a fresh
//! instance (or a flushed cache) does not send its first minutes of traffic to the database. The cost:
//! a burst of database work at start (N detail loads), and entries for products that may not be asked
//! for before they expire.
//!
//! - **naive** (off): the cache starts empty; the first request for each product is a miss.
//! - **optimized** (on): at start, and whenever the flag is switched on, the detail pages of the top
//!   `product.warm_top_n` products by popularity are loaded in batches (through `read_path::details`, the
//!   eager-loading lever's loader, so with it on a batch of 100 is 2 queries) and stored with the current TTL.
//!
//! Each run logs `event="cache_warmed"` with `products` and `elapsed_ms`, and adds the number of entries
//! written to `shoplab_cache_requests_total{cache="product_warming",result="refresh"}`.

use std::time::Instant;

use bytes::Bytes;
use kit::db::traced;
use kit::metrics::CacheLabels;
use tracing::Instrument;

use crate::cache;
use crate::read_path;
use crate::state::AppState;

/// Products loaded per batch (one JOIN + one `= any($1)` query with eager loading on).
const BATCH: usize = 100;

/// Warms at start if the flag is on, then every time it goes from off to on.
pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        let mut changes = state.flags.subscribe();
        let mut was_on = false;
        loop {
            let on = state.flags.bool("product.cache_warming");
            if on && !was_on {
                let span = tracing::info_span!("cache.warm");
                if let Err(e) = warm(&state).instrument(span).await {
                    tracing::error!(event = "cache_warming_failed", error = %format!("{e:#}"));
                }
            }
            was_on = on;
            if changes.changed().await.is_err() {
                return;
            }
        }
    });
}

/// Loads and stores the top `product.warm_top_n` detail pages; returns how many were stored.
pub async fn warm(state: &AppState) -> anyhow::Result<usize> {
    let started = Instant::now();
    let n = state.flags.int("product.warm_top_n").max(0);
    const TOP: &str = "select id from product.products order by popularity desc, id limit $1";
    let ids: Vec<i64> = {
        let mut conn = state.db.acquire().await?;
        traced(TOP, sqlx::query_scalar(TOP).bind(n).fetch_all(&mut *conn)).await?
    };
    let ttl = cache::ttl(&state.flags);
    let mut stored = 0;
    for chunk in ids.chunks(BATCH) {
        let details = read_path::details(state, chunk).await?;
        let slots: Vec<_> = details.iter().map(|d| state.keys.detail(d.id)).collect();
        let versions = cache::versions(&state.redis, &slots).await?;
        let mut entries = Vec::with_capacity(details.len());
        for ((detail, slot), version) in details.iter().zip(slots).zip(versions) {
            entries.push((slot, version, Bytes::from(serde_json::to_vec(detail)?)));
        }
        cache::store_many(&state.redis, &entries, ttl).await?;
        stored += entries.len();
    }
    let labels = CacheLabels { cache: "product_warming", result: "refresh" };
    state.metrics.cache_requests.get_or_create(&labels).inc_by(stored as u64);
    let elapsed_ms = started.elapsed().as_millis() as u64;
    tracing::info!(event = "cache_warmed", products = stored, elapsed_ms, ttl_secs = ttl.as_secs(), "cache warmed");
    Ok(stored)
}
