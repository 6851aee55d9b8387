//! The Redis side of cache-aside: key layout, the stored envelope, versions and locks.
//!
//! Every cached page (a product detail, a listing page, a search page) lives under one key and is paired
//! with a **version key** its writer bumps: a product's own version for its detail page, one per category
//! (and one for the unfiltered listing) for listing pages, one for all searches. An entry records the
//! version it was built from; a lookup reads the entry, its version key and its remaining TTL in one
//! round trip (a pipeline), and an entry whose version is behind is **stale**: it is never served. That
//! is what makes "no stale price after the PUT returns" hold even when a reader that loaded the old row
//! writes its entry after the writer's invalidation (the classic cache-aside race).
//!
//! Key layout (every key starts with the configured prefix, `shoplab:` by default):
//! `product:detail:{id}`, `product:list:{category|all}:{limit}:{cursor|first}`,
//! `product:search:{limit}:{cursor|first}:{q}`, versions under `product:ver:...`, locks under `product:lock:...`;
//! every invalidation is also published on the channel `product:invalidations` (for in-process tiers).
//!
//! Every operation takes its connection from [`Redis::get`] (pooled or multiplexed: the
//! `product.redis_multiplexing` lever), and entries are stored for [`ttl`] (the `product.cache_ttl_secs` lever).

use std::time::Duration;

use bytes::Bytes;
use kit::flags::Flags;
use kit::redis::redis;
use kit::redis::traced;

use crate::levers::redis_multiplexing::Redis;

/// Version keys outlive every entry (TTL is at most a day), so an expired version never matches an old entry.
const VERSION_TTL_SECS: u64 = 2 * 86_400;

/// The TTL entries are stored with now (the `product.cache_ttl_secs` lever).
pub fn ttl(flags: &Flags) -> Duration {
    crate::levers::cache_ttl_secs::ttl(flags)
}

/// Builds the keys of one service instance (all under its Redis prefix).
#[derive(Clone, Debug)]
pub struct Keys {
    /// `config.redis_prefix` followed by `product:`.
    base: String,
}

/// One cacheable page: where it lives, which version key guards it, and its labels.
#[derive(Clone, Debug)]
pub struct Slot {
    /// Value of the `cache` label of `shoplab_cache_requests_total`.
    pub cache: &'static str,
    /// Route pattern, for `shoplab_coalesced_requests_total{route}`.
    pub route: &'static str,
    pub key: String,
    pub version_key: String,
    /// Lock held by whoever loads this page from the database (single flight across instances).
    pub lock_key: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self { base: format!("{prefix}product:") }
    }

    fn slot(&self, cache: &'static str, route: &'static str, key: String, version: String) -> Slot {
        let lock_key = format!("{}lock:{}", self.base, &key[self.base.len()..]);
        Slot { cache, route, key, version_key: version, lock_key }
    }

    pub fn detail(&self, id: i64) -> Slot {
        self.slot("product_detail", "/products/{id}", format!("{}detail:{id}", self.base), self.detail_version(id))
    }

    pub fn listing(&self, category: Option<i32>, limit: i64, cursor: &str) -> Slot {
        let cat = category.map_or_else(|| "all".to_owned(), |c| c.to_string());
        let key = format!("{}list:{cat}:{limit}:{cursor}", self.base);
        self.slot("product_listing", "/products", key, self.listing_version(category))
    }

    pub fn search(&self, q: &str, limit: i64, cursor: &str) -> Slot {
        let key = format!("{}search:{limit}:{cursor}:{q}", self.base);
        self.slot("product_search", "/search", key, self.search_version())
    }

    /// The pub/sub channel every invalidation is published on (the message is the product id).
    pub fn invalidations(&self) -> String {
        format!("{}invalidations", self.base)
    }

    fn detail_version(&self, id: i64) -> String {
        format!("{}ver:detail:{id}", self.base)
    }

    fn listing_version(&self, category: Option<i32>) -> String {
        category.map_or_else(|| format!("{}ver:list:all", self.base), |c| format!("{}ver:list:{c}", self.base))
    }

    fn search_version(&self) -> String {
        format!("{}ver:search", self.base)
    }

    /// Every version key a change to product `id` (in `category`) must bump.
    pub fn versions_of(&self, id: i64, category: i32) -> [String; 4] {
        [self.detail_version(id), self.listing_version(Some(category)), self.listing_version(None), self.search_version()]
    }
}

/// A cached page: the version it was built from, the TTL it was stored with, and the JSON body.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub version: u64,
    pub ttl_ms: u64,
    pub body: Bytes,
}

/// Room for the envelope's header line: two u64 in decimal, a 16-digit hash, two spaces and a newline.
pub const HEADER_MAX: usize = 64;

/// The content hash stored beside a body: what an `ETag` is made of (`levers::conditional_requests`).
pub fn content_hash(body: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(body)
}

impl Entry {
    /// `"{version} {ttl_ms} {hash}\n{body}"`: the body is stored as the exact bytes served, never
    /// re-encoded; the hash (16 hex digits) lets a revalidation read the header alone.
    fn encode(&self) -> Vec<u8> {
        let mut out = format!("{} {} {:016x}\n", self.version, self.ttl_ms, content_hash(&self.body)).into_bytes();
        out.extend_from_slice(&self.body);
        out
    }

    fn decode(raw: Vec<u8>) -> Option<Self> {
        let nl = raw.iter().position(|&b| b == b'\n')?;
        let (version, ttl_ms, _) = parse_header(&raw[..nl])?;
        let body = Bytes::from(raw).slice(nl + 1..);
        Some(Self { version, ttl_ms, body })
    }
}

/// Version, TTL and content hash of an envelope's header line (an entry written before the hash was
/// stored has none).
fn parse_header(line: &[u8]) -> Option<(u64, u64, Option<u64>)> {
    let mut parts = std::str::from_utf8(line).ok()?.split(' ');
    let (version, ttl_ms) = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
    let hash = parts.next().and_then(|h| u64::from_str_radix(h, 16).ok());
    Some((version, ttl_ms, hash))
}

/// The content hash of `slot`'s entry if it is present and current, read from its header alone
/// (`GETRANGE` of the first [`HEADER_MAX`] bytes, and the version key, in one round trip).
pub async fn current_hash(redis: &Redis, slot: &Slot) -> anyhow::Result<Option<u64>> {
    let mut conn = redis.get().await?;
    let mut pipe = redis::pipe();
    pipe.cmd("GETRANGE").arg(&slot.key).arg(0).arg(HEADER_MAX - 1).cmd("GET").arg(&slot.version_key);
    let (head, version): (Vec<u8>, Option<Vec<u8>>) = traced("GETRANGE", &slot.key, pipe.query_async(&mut conn)).await?;
    let Some(nl) = head.iter().position(|&b| b == b'\n') else { return Ok(None) };
    Ok(match parse_header(&head[..nl]) {
        Some((v, _, hash)) if v == parse_version(version) => hash,
        _ => None,
    })
}

/// What one lookup found.
#[derive(Debug)]
pub enum Found {
    /// Present and current; `remaining_ms` is the key's remaining TTL.
    Fresh { entry: Entry, remaining_ms: u64 },
    /// Present but built before the latest write to its version key: not served.
    Stale,
    /// Absent (never cached, or expired).
    Missing,
}

/// Result of [`lookup`]: what was found and the current version (to tag a reload with).
#[derive(Debug)]
pub struct Lookup {
    pub found: Found,
    pub version: u64,
}

fn parse_version(raw: Option<Vec<u8>>) -> u64 {
    raw.and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()).unwrap_or(0)
}

/// Reads the entry, its version key and its remaining TTL in one round trip.
pub async fn lookup(redis: &Redis, slot: &Slot) -> anyhow::Result<Lookup> {
    let mut conn = redis.get().await?;
    let mut pipe = redis::pipe();
    pipe.cmd("MGET").arg(&slot.key).arg(&slot.version_key).cmd("PTTL").arg(&slot.key);
    /// `MGET entry version` then `PTTL entry`.
    type Reply = ((Option<Vec<u8>>, Option<Vec<u8>>), i64);
    let ((entry, version), pttl): Reply = traced("MGET", &slot.key, pipe.query_async(&mut conn)).await?;
    let version = parse_version(version);
    let found = match entry.and_then(Entry::decode) {
        None => Found::Missing,
        Some(entry) if entry.version != version => Found::Stale,
        Some(entry) => Found::Fresh { entry, remaining_ms: u64::try_from(pttl).unwrap_or(0) },
    };
    Ok(Lookup { found, version })
}

/// Current versions of several slots (cache warming tags a whole batch at once).
pub async fn versions(redis: &Redis, slots: &[Slot]) -> anyhow::Result<Vec<u64>> {
    if slots.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = redis.get().await?;
    let keys: Vec<&str> = slots.iter().map(|s| s.version_key.as_str()).collect();
    let raw: Vec<Option<Vec<u8>>> =
        traced("MGET", &slots[0].version_key, redis::cmd("MGET").arg(&keys).query_async(&mut conn)).await?;
    Ok(raw.into_iter().map(parse_version).collect())
}

/// Stores `body` under `slot` for `ttl`, tagged with `version`.
pub async fn store(redis: &Redis, slot: &Slot, version: u64, ttl: Duration, body: &Bytes) -> anyhow::Result<()> {
    store_many(redis, &[(slot.clone(), version, body.clone())], ttl).await
}

/// Stores several entries in one pipeline.
pub async fn store_many(redis: &Redis, entries: &[(Slot, u64, Bytes)], ttl: Duration) -> anyhow::Result<()> {
    let Some((first, _, _)) = entries.first() else { return Ok(()) };
    let ttl_ms = ttl.as_millis() as u64;
    let mut pipe = redis::pipe();
    for (slot, version, body) in entries {
        let raw = Entry { version: *version, ttl_ms, body: body.clone() }.encode();
        pipe.cmd("SET").arg(&slot.key).arg(raw).arg("PX").arg(ttl_ms).ignore();
    }
    let mut conn = redis.get().await?;
    traced("SET", &first.key, pipe.query_async::<()>(&mut conn)).await?;
    Ok(())
}

/// Bumps the version keys of product `id` in `category`: every cached page that showed it becomes stale.
/// Then publishes the id on [`Keys::invalidations`], in the same round trip, so every instance can drop
/// the in-process copies it holds.
pub async fn invalidate(redis: &Redis, keys: &Keys, id: i64, category: i32) -> anyhow::Result<()> {
    let mut pipe = redis::pipe();
    for key in keys.versions_of(id, category) {
        pipe.cmd("INCR").arg(&key).ignore().cmd("EXPIRE").arg(&key).arg(VERSION_TTL_SECS).ignore();
    }
    pipe.cmd("PUBLISH").arg(keys.invalidations()).arg(id).ignore();
    let mut conn = redis.get().await?;
    traced("INCR", &keys.detail_version(id), pipe.query_async::<()>(&mut conn)).await?;
    Ok(())
}

/// `SET lock token NX PX ms`: true when this caller now holds the lock.
pub async fn try_lock(redis: &Redis, lock_key: &str, token: &str, hold: Duration) -> anyhow::Result<bool> {
    let mut conn = redis.get().await?;
    let cmd = redis::cmd("SET").arg(lock_key).arg(token).arg("NX").arg("PX").arg(hold.as_millis() as u64).to_owned();
    let set: Option<String> = traced("SET", lock_key, cmd.query_async(&mut conn)).await?;
    Ok(set.is_some())
}

/// Releases a lock only if this caller still holds it (compare-and-delete in one script).
pub async fn unlock(redis: &Redis, lock_key: &str, token: &str) -> anyhow::Result<()> {
    const SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
    let mut conn = redis.get().await?;
    let cmd = redis::cmd("EVAL").arg(SCRIPT).arg(1).arg(lock_key).arg(token).to_owned();
    traced("EVAL", lock_key, cmd.query_async::<i64>(&mut conn)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips() {
        let e = Entry { version: 7, ttl_ms: 60_000, body: Bytes::from_static(b"{\"id\":1}\n") };
        let raw = e.encode();
        let nl = raw.iter().position(|&b| b == b'\n').unwrap();
        assert!(nl < HEADER_MAX);
        assert_eq!(parse_header(&raw[..nl]), Some((7, 60_000, Some(content_hash(&e.body)))));
        assert_eq!(Entry::decode(raw), Some(e));
        assert_eq!(Entry::decode(b"7 60000\n{}".to_vec()).map(|e| e.version), Some(7), "an entry without a hash still reads");
        assert_eq!(Entry::decode(b"garbage".to_vec()), None);
    }

    #[test]
    fn keys_share_the_prefix_and_locks_mirror_entries() {
        let k = Keys::new("t:1:");
        let s = k.listing(Some(7), 20, "first");
        assert_eq!(s.key, "t:1:product:list:7:20:first");
        assert_eq!(s.version_key, "t:1:product:ver:list:7");
        assert_eq!(s.lock_key, "t:1:product:lock:list:7:20:first");
        assert!(k.versions_of(3, 7).iter().all(|v| v.starts_with("t:1:product:ver:")));
    }
}
