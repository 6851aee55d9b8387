//! Lever `product.local_cache` (+ `product.local_cache_ttl_ms`) — book chapter "Caching Strategies"
//! (multi-layer caches).
//!
//! The book's caching chapter layers caches by how far away they are: memory in the process answers in
//! about 100 ns, a cache server across the network in about half a millisecond, and every layer in front
//! takes load off the ones behind it. Case 1 keeps its pages in Redis; this lever puts a small in-process
//! tier in front of it, so a hot product is served without leaving the process.
//!
//! - **naive** (off): every read asks Redis (one pipelined `MGET` + `PTTL`, plus the pool's `PING`).
//! - **optimized** (on): a bounded [moka](https://docs.rs/moka) cache (by bytes: [`CAPACITY_BYTES`]) holds
//!   the bodies this instance served, each for `product.local_cache_ttl_ms` (default 5 s). A hit costs no
//!   Redis command at all; a miss goes on to Redis (and behind it to the database) as before.
//!
//! **Invalidation across instances, and the staleness bound.** Every price write publishes the product id
//! on the Redis channel `<prefix>product:invalidations` (`cache::invalidate`, whatever this flag says);
//! every instance subscribes ([`spawn_listener`]) and, on a message, drops its whole local tier (an epoch
//! bump: entries filled before it are never served again). The writing instance drops its own before it
//! answers the `PUT`, so it reads its own writes. Another instance serves the old price for as long as the
//! message takes to arrive — milliseconds — and **at most `product.local_cache_ttl_ms`** if a message is
//! lost (pub/sub delivers at most once: a subscriber reconnecting misses what was published meanwhile, so
//! a reconnect drops the tier too). Dropping everything on any write is coarse but simple and safe: price
//! writes are rare next to reads, and the tier refills from Redis in one round trip per key.
//!
//! What it costs: memory in every instance (bounded), a second copy to keep coherent, and a staleness
//! window that is no longer zero. What to watch: `shoplab_cache_requests_total{cache="local",result}`
//! (`hit`/`miss`) on the "Cache lookups by tier" panel, and Redis commands per request
//! (`INFO commandstats`, as `shoplab lever product.local_cache --compare` shows) falling with the hit rate.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use kit::flags::Flags;
use kit::metrics::Metrics;
use moka::future::Cache;

/// Upper bound of the tier's memory: the sum of its keys' and bodies' sizes.
pub const CAPACITY_BYTES: u64 = 64 * 1024 * 1024;
/// No entry lives longer than this whatever `product.local_cache_ttl_ms` says (the flag's maximum).
const MAX_TTL: Duration = Duration::from_secs(60);
/// Pause before the listener subscribes again after losing its connection.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// One body held in process.
#[derive(Clone)]
struct Local {
    /// The invalidation epoch read before the body was fetched: a later invalidation makes it stale.
    epoch: u64,
    /// When it was stored (the flag's TTL is checked on read, so a changed TTL applies at once).
    at: Instant,
    body: Bytes,
}

/// The in-process tier of one instance; cheap to clone.
#[derive(Clone)]
pub struct LocalCache {
    entries: Cache<String, Local>,
    /// Bumped on every invalidation this instance hears of.
    epoch: Arc<AtomicU64>,
}

impl Default for LocalCache {
    fn default() -> Self {
        let entries = Cache::builder()
            .max_capacity(CAPACITY_BYTES)
            .weigher(|k: &String, v: &Local| u32::try_from(k.len() + v.body.len()).unwrap_or(u32::MAX))
            .time_to_live(MAX_TTL)
            .build();
        Self { entries, epoch: Arc::default() }
    }
}

impl LocalCache {
    /// Drops every entry: those stored before this call are never served again.
    pub fn invalidate_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.entries.invalidate_all();
    }

    /// Entries held now (tests, after pending evictions have run).
    pub async fn entry_count(&self) -> u64 {
        self.entries.run_pending_tasks().await;
        self.entries.entry_count()
    }
}

/// How long an entry is served from memory.
fn ttl(flags: &Flags) -> Duration {
    Duration::from_millis(flags.int("product.local_cache_ttl_ms").max(1) as u64).min(MAX_TTL)
}

/// Serves `key` from this process when the flag is on and a current copy is here; otherwise asks
/// `next` (the Redis tier and the database behind it) and keeps what it returns.
pub async fn get<E, F>(local: &LocalCache, flags: &Flags, metrics: &Metrics, key: &str, next: F) -> Result<Option<Bytes>, E>
where
    F: Future<Output = Result<Option<Bytes>, E>>,
{
    if !flags.bool("product.local_cache") {
        return next.await; // naive: every read goes to Redis
    }
    // read before fetching: an invalidation that lands while we fetch makes this copy stale at once
    let epoch = local.epoch.load(Ordering::SeqCst);
    if let Some(hit) = local.entries.get(key).await
        && hit.epoch == epoch
        && hit.at.elapsed() < ttl(flags)
    {
        metrics.cache("local", "hit");
        return Ok(Some(hit.body));
    }
    metrics.cache("local", "miss");
    let body = next.await?;
    if let Some(body) = &body {
        local.entries.insert(key.to_owned(), Local { epoch, at: Instant::now(), body: body.clone() }).await;
    }
    Ok(body)
}

/// Subscribes to `channel` for the life of the process and drops the local tier on every message (and on
/// every reconnect, since messages published while disconnected are lost).
pub fn spawn_listener(local: LocalCache, redis_url: String, channel: String) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = listen(&local, &redis_url, &channel).await {
                tracing::warn!(event = "local_cache_listener_lost", error = %e, "resubscribing");
            }
            local.invalidate_all();
            tokio::time::sleep(RECONNECT_AFTER).await;
        }
    });
}

async fn listen(local: &LocalCache, redis_url: &str, channel: &str) -> anyhow::Result<()> {
    let mut pubsub = redis::Client::open(redis_url)?.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    local.invalidate_all(); // anything published before the subscription took effect is unknown
    let mut messages = pubsub.on_message();
    while messages.next().await.is_some() {
        local.invalidate_all();
    }
    anyhow::bail!("subscription closed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_invalidation_makes_earlier_copies_unservable() {
        let local = LocalCache::default();
        let epoch = local.epoch.load(Ordering::SeqCst);
        local.entries.insert("k".into(), Local { epoch, at: Instant::now(), body: Bytes::from_static(b"old") }).await;
        assert_eq!(local.entry_count().await, 1);
        local.invalidate_all();
        assert_eq!(local.entry_count().await, 0);
        // a copy fetched before the invalidation but stored after it carries the old epoch
        local.entries.insert("k".into(), Local { epoch, at: Instant::now(), body: Bytes::from_static(b"old") }).await;
        let stored = local.entries.get("k").await.expect("stored");
        assert_ne!(stored.epoch, local.epoch.load(Ordering::SeqCst));
    }
}
