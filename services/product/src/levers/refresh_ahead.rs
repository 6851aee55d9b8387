//! Lever `product.refresh_ahead` — book chapter "Caching Strategies" (stampede prevention).
//!
//! The book: the team raised the TTL and added "background refresh triggered at 80 % of the TTL to avoid
//! a thundering herd": a hot entry is reloaded while it is still being served, so it never expires under
//! load, and only one loader runs per key. The cost: background work for entries nobody may ask for
//! again, a lock per refresh, and code that must not let a failed refresh hurt the request that
//! triggered it.
//!
//! - **naive** (off): plain cache-aside. Look up; on a miss, load from the database and store. When a hot
//!   key expires, every request that arrives before the first reload finishes loads it too: 50
//!   concurrent requests for an expired key are up to 50 identical database loads (a stampede).
//! - **optimized** (on): a hit with less than 20 % of its TTL left is served at once and refreshed in the
//!   background; a miss is **single-flight**: within the process, concurrent requests for one key share
//!   one load (a map of in-flight futures), and across instances the loader holds a Redis lock
//!   (`SET NX PX`) while the others poll briefly for its result. 50 concurrent requests -> 1 load.
//!
//! Metrics: `shoplab_cache_requests_total{cache, result}` with `hit`, `miss` (absent), `stale` (present but
//! behind a write: not served) and `refresh` (a background refresh stored a new entry);
//! `shoplab_coalesced_requests_total{route}` counts requests that waited for another request's load.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use kit::ApiError;
use kit::metrics::RouteLabels;
use tracing::Instrument;

use crate::cache::{self, Found, Slot};
use crate::state::AppState;

/// A page body, or `None` when the thing does not exist (a 404, never cached).
pub type LoadResult = Result<Option<Bytes>, LoadError>;
/// Loads a page from the database; called again for background refreshes, hence `Fn` and `'static`.
pub type Loader = Arc<dyn Fn() -> BoxFuture<'static, LoadResult> + Send + Sync>;

/// A failed load, cloneable so every request sharing the load gets it.
#[derive(Clone, Debug)]
pub struct LoadError(pub Arc<anyhow::Error>);

impl From<anyhow::Error> for LoadError {
    fn from(e: anyhow::Error) -> Self {
        Self(Arc::new(e))
    }
}

impl From<sqlx::Error> for LoadError {
    fn from(e: sqlx::Error) -> Self {
        Self(Arc::new(e.into()))
    }
}

impl From<serde_json::Error> for LoadError {
    fn from(e: serde_json::Error) -> Self {
        Self(Arc::new(e.into()))
    }
}

impl From<LoadError> for ApiError {
    fn from(e: LoadError) -> Self {
        ApiError::Internal(anyhow::anyhow!("{:#}", e.0))
    }
}

/// Refresh-ahead starts once less than this share of an entry's TTL is left (the book's "80 % of the TTL").
pub const REFRESH_WHEN_LEFT: f64 = 0.2;

/// True when an entry stored with `ttl_ms` and `remaining_ms` left is due for a background refresh.
pub fn due_for_refresh(ttl_ms: u64, remaining_ms: u64) -> bool {
    (remaining_ms as f64) < ttl_ms as f64 * REFRESH_WHEN_LEFT
}

/// How long a loader may hold a key's lock before another instance may take over.
const LOCK_HOLD: Duration = Duration::from_secs(5);
/// How often, and how many times, a request polls for an entry another instance is loading.
const POLL_EVERY: Duration = Duration::from_millis(20);
const POLLS: u32 = 100;

/// In-process single-flight state.
#[derive(Clone, Default)]
pub struct Flights {
    /// Loads in progress, by entry key; a request for the same key awaits the same future.
    loading: Arc<Mutex<HashMap<String, Shared<BoxFuture<'static, LoadResult>>>>>,
    /// Keys being refreshed in the background by this process.
    refreshing: Arc<Mutex<HashSet<String>>>,
}

/// Serves `slot` from Redis or loads it with `loader`, the way the flag says.
pub async fn get(state: &AppState, slot: Slot, loader: Loader) -> LoadResult {
    let lookup = match cache::lookup(&state.redis, &slot).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(event = "cache_unavailable", error = %e, "serving from the database");
            return loader().await;
        }
    };
    let optimized = state.flags.bool("product.refresh_ahead");
    match lookup.found {
        Found::Fresh { entry, remaining_ms } => {
            state.metrics.cache(slot.cache, "hit");
            if optimized && due_for_refresh(entry.ttl_ms, remaining_ms) {
                refresh_in_background(state, slot, lookup.version, loader);
            }
            return Ok(Some(entry.body));
        }
        Found::Stale => state.metrics.cache(slot.cache, "stale"),
        Found::Missing => state.metrics.cache(slot.cache, "miss"),
    }
    if optimized {
        single_flight(state, slot, lookup.version, loader).await
    } else {
        load_and_store(state, &slot, lookup.version, &loader).await
    }
}

/// Naive cache-aside (and the last step of every path): load, store, return.
async fn load_and_store(state: &AppState, slot: &Slot, version: u64, loader: &Loader) -> LoadResult {
    let body = loader().await?;
    if let Some(body) = &body {
        let ttl = cache::ttl(&state.flags);
        if let Err(e) = cache::store(&state.redis, slot, version, ttl, body).await {
            tracing::warn!(event = "cache_store_failed", key = %slot.key, error = %e);
        }
    }
    Ok(body)
}

/// One load per key in this process: the first request leads, the others await its future.
async fn single_flight(state: &AppState, slot: Slot, version: u64, loader: Loader) -> LoadResult {
    let (flight, led) = {
        let mut loading = state.flights.loading.lock().expect("flights poisoned");
        match loading.get(&slot.key) {
            Some(flight) => (flight.clone(), false),
            None => {
                // not spawned: whichever request polls it drives it, so its queries count for a request,
                // and the map keeps it alive if the leading client disconnects.
                let flight = lead(state.clone(), slot.clone(), version, loader).boxed().shared();
                loading.insert(slot.key.clone(), flight.clone());
                (flight, true)
            }
        }
    };
    if !led {
        crate::metrics::ProductMetrics::of(&state.metrics)
            .coalesced
            .get_or_create(&RouteLabels { route: slot.route.to_owned() })
            .inc();
    }
    flight.await
}

async fn lead(state: AppState, slot: Slot, version: u64, loader: Loader) -> LoadResult {
    let out = lead_locked(&state, &slot, version, &loader).await;
    state.flights.loading.lock().expect("flights poisoned").remove(&slot.key);
    out
}

/// The leader's load, single-flight across instances through a Redis lock.
async fn lead_locked(state: &AppState, slot: &Slot, version: u64, loader: &Loader) -> LoadResult {
    let token = uuid::Uuid::new_v4().to_string();
    if cache::try_lock(&state.redis, &slot.lock_key, &token, LOCK_HOLD).await.unwrap_or(true) {
        let out = load_locked(state, slot, version, loader).await;
        if let Err(e) = cache::unlock(&state.redis, &slot.lock_key, &token).await {
            tracing::warn!(event = "cache_unlock_failed", key = %slot.lock_key, error = %e);
        }
        return out;
    }
    // another instance is loading this key: wait for its entry rather than load it again
    for _ in 0..POLLS {
        tokio::time::sleep(POLL_EVERY).await;
        if let Ok(cache::Lookup { found: Found::Fresh { entry, .. }, .. }) = cache::lookup(&state.redis, slot).await {
            return Ok(Some(entry.body));
        }
    }
    load_and_store(state, slot, version, loader).await
}

/// Holding the lock: look once more (a request of this or another instance may have stored the entry and
/// released the lock since our lookup), then load.
async fn load_locked(state: &AppState, slot: &Slot, version: u64, loader: &Loader) -> LoadResult {
    match cache::lookup(&state.redis, slot).await {
        Ok(cache::Lookup { found: Found::Fresh { entry, .. }, .. }) => Ok(Some(entry.body)),
        Ok(l) => load_and_store(state, slot, l.version, loader).await,
        Err(_) => load_and_store(state, slot, version, loader).await,
    }
}

/// Starts a background reload of `slot` unless one is already running here or on another instance.
fn refresh_in_background(state: &AppState, slot: Slot, version: u64, loader: Loader) {
    if !state.flights.refreshing.lock().expect("flights poisoned").insert(slot.key.clone()) {
        return;
    }
    let state = state.clone();
    let span = tracing::info_span!("cache.refresh", cache = slot.cache, key = %slot.key);
    tokio::spawn(
        async move {
            if let Err(e) = refresh(&state, &slot, version, &loader).await {
                tracing::warn!(event = "cache_refresh_failed", key = %slot.key, error = %e);
            }
            state.flights.refreshing.lock().expect("flights poisoned").remove(&slot.key);
        }
        .instrument(span),
    );
}

async fn refresh(state: &AppState, slot: &Slot, version: u64, loader: &Loader) -> anyhow::Result<()> {
    let token = uuid::Uuid::new_v4().to_string();
    if !cache::try_lock(&state.redis, &slot.lock_key, &token, LOCK_HOLD).await? {
        return Ok(()); // another instance is refreshing it
    }
    let out = loader().await;
    let stored = match &out {
        Ok(Some(body)) => cache::store(&state.redis, slot, version, cache::ttl(&state.flags), body).await,
        _ => Ok(()),
    };
    cache::unlock(&state.redis, &slot.lock_key, &token).await?;
    out.map_err(|e| anyhow::anyhow!("{:#}", e.0))?;
    stored?;
    state.metrics.cache(slot.cache, "refresh");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::due_for_refresh;

    #[test]
    fn refresh_window_is_the_last_fifth() {
        assert!(!due_for_refresh(300_000, 60_001));
        assert!(due_for_refresh(300_000, 59_999));
        assert!(due_for_refresh(60_000, 0));
    }
}
