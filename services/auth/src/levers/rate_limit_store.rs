//! Lever `auth.rate_limit_store` (book chapter "Edge Infrastructure": distributed rate limiting): where
//! the token buckets of `auth.rate_limit` live.
//!
//! The book's Edge Infrastructure chapter puts rate limiting at the edge, in front of every instance.
//! The reason applies to any limit: one enforced per instance is not the limit you configured. Behind a
//! load balancer with N instances, a client whose requests are spread over them gets N budgets — N ×
//! the burst at once and N × the rate after that — and the effective limit changes every time the
//! deployment scales. One shared store makes it one budget again.
//!
//! - `local` (before): governor's keyed GCRA limiter in each process — no I/O, nothing shared.
//! - `redis` (after): one token bucket per key in Redis (`<prefix>ratelimit:<key>`), updated by one Lua
//!   script, so the read-refill-take of concurrent instances cannot interleave. The script reads the
//!   time from Redis (`TIME`), so instances with skewed clocks still agree, and gives each bucket an
//!   expiry of the time it takes to refill, so idle clients cost Redis nothing.
//!
//! Cost: one Redis round trip (`EVAL`) per request on the hot path, and a dependency: when Redis
//! fails, the request is judged by the instance's own bucket instead (fail open to the local limit, not
//! to no limit), logged as `rate_limit_store_unavailable`. What to watch: `shoplab_rate_limited_total`
//! summed over instances against the configured budget, and Redis commands per request (+1).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use deadpool_redis::Pool;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use kit::redis::{redis, traced};

/// Above this many tracked clients the local limiter forgets the idle ones at once, not only every
/// [`PRUNE_EVERY`]: memory stays bounded whatever a flooder makes up.
const MAX_LOCAL_KEYS: usize = 100_000;

/// How often idle clients' local buckets are forgotten.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The token bucket, atomically: refill by the time elapsed, take one token if there is one.
/// Returns `{allowed (1/0), milliseconds until the next token}`.
const BUCKET_LUA: &str = r"
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(b[1]), tonumber(b[2])
if tokens == nil then tokens, ts = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local allowed, wait = 0, 0
if tokens >= 1 then tokens, allowed = tokens - 1, 1 else wait = math.ceil((1 - tokens) * 1000 / rate) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, wait}
";

/// One quota's local limiter.
struct Local {
    per_sec: u32,
    burst: u32,
    limiter: DefaultKeyedRateLimiter<String>,
}

/// The buckets of every client, local or in Redis.
pub struct Buckets {
    /// The per-instance limiter, rebuilt when the quota flags change.
    local: ArcSwapOption<Local>,
    /// The shared store (lazily connected: auth starts without Redis; the redis store then falls back).
    redis: Pool,
    /// `<SHOPLAB_REDIS_PREFIX>ratelimit:`.
    prefix: String,
}

impl Buckets {
    pub fn new(redis: Pool, redis_prefix: &str) -> Self {
        Self { local: ArcSwapOption::empty(), redis, prefix: format!("{redis_prefix}ratelimit:") }
    }

    /// Takes a token from `key`'s bucket in the store `store` names; `Err(wait)` when it is empty.
    pub async fn take(&self, store: &str, key: &str, per_sec: u32, burst: u32) -> Result<(), Duration> {
        let (per_sec, burst) = (per_sec.max(1), burst.max(1));
        if store == "redis" {
            // after: one budget per key, shared by every instance
            match self.take_shared(key, per_sec, burst).await {
                Ok(verdict) => return verdict,
                Err(e) => tracing::warn!(event = "rate_limit_store_unavailable", error = %e, "using this instance's bucket"),
            }
        }
        // before: this instance's own bucket
        self.take_local(key, per_sec, burst)
    }

    /// One `EVAL` of the bucket script (Redis keeps it compiled after the first call).
    async fn take_shared(&self, key: &str, per_sec: u32, burst: u32) -> anyhow::Result<Result<(), Duration>> {
        let redis_key = format!("{}{key}", self.prefix);
        let mut conn = self.redis.get().await?;
        let mut call = redis::cmd("EVAL");
        call.arg(BUCKET_LUA).arg(1).arg(&redis_key).arg(per_sec).arg(burst);
        let (allowed, wait_ms): (i64, u64) = traced("EVAL", &redis_key, call.query_async(&mut *conn)).await?;
        Ok(if allowed == 1 { Ok(()) } else { Err(Duration::from_millis(wait_ms.max(1))) })
    }

    fn take_local(&self, key: &str, per_sec: u32, burst: u32) -> Result<(), Duration> {
        let local = self.local_for(per_sec, burst);
        if local.limiter.len() > MAX_LOCAL_KEYS {
            local.limiter.retain_recent();
        }
        local.limiter.check_key(&key.to_owned()).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// The local limiter for this quota, building it if the flags changed (every bucket starts full).
    fn local_for(&self, per_sec: u32, burst: u32) -> Arc<Local> {
        if let Some(l) = self.local.load_full().filter(|l| l.per_sec == per_sec && l.burst == burst) {
            return l;
        }
        let quota = Quota::per_second(nonzero(per_sec)).allow_burst(nonzero(burst));
        let fresh = Arc::new(Local { per_sec, burst, limiter: DefaultKeyedRateLimiter::keyed(quota) });
        tracing::info!(event = "rate_limiter_rebuilt", per_sec, burst);
        self.local.store(Some(fresh.clone()));
        fresh
    }

    /// Forgets clients whose local buckets are full again (called every [`PRUNE_EVERY`]).
    pub fn prune(&self) {
        if let Some(l) = self.local.load_full() {
            l.limiter.retain_recent();
            l.limiter.shrink_to_fit();
        }
    }

    /// Clients the local limiter tracks (for tests of the memory bound).
    pub fn local_len(&self) -> usize {
        self.local.load_full().map_or(0, |l| l.limiter.len())
    }
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets() -> Buckets {
        let pool = deadpool_redis::Config::from_url("redis://127.0.0.1:1").create_pool(Some(deadpool_redis::Runtime::Tokio1));
        Buckets::new(pool.expect("pool"), "unit:")
    }

    #[tokio::test]
    async fn a_client_gets_its_burst_then_waits() {
        let b = buckets();
        for _ in 0..3 {
            assert!(b.take("local", "a", 1, 3).await.is_ok());
        }
        let wait = b.take("local", "a", 1, 3).await.expect_err("bucket empty");
        assert!(wait <= Duration::from_secs(1));
        assert!(b.take("local", "b", 1, 3).await.is_ok(), "another client has its own bucket");
    }

    #[tokio::test]
    async fn a_new_quota_rebuilds_the_limiter() {
        let b = buckets();
        assert!(b.take("local", "a", 1, 1).await.is_ok());
        assert!(b.take("local", "a", 1, 1).await.is_err());
        assert!(b.take("local", "a", 1, 2).await.is_ok(), "a changed burst starts from a full bucket");
    }

    #[tokio::test]
    async fn made_up_keys_cannot_grow_the_local_map_without_bound() {
        let b = buckets();
        // a bucket refilled a million times a second is full again at once: idle, so forgettable
        for i in 0..MAX_LOCAL_KEYS + 500 {
            assert!(b.take("local", &format!("ip:{i}"), 1_000_000, 1).await.is_ok());
        }
        assert!(b.local_len() <= MAX_LOCAL_KEYS + 1, "tracked: {}", b.local_len());
    }

    #[tokio::test]
    async fn without_redis_the_shared_store_falls_back_to_the_local_bucket() {
        let b = buckets();
        assert!(b.take("redis", "a", 1, 1).await.is_ok());
        assert!(b.take("redis", "a", 1, 1).await.is_err(), "still limited, by this instance's bucket");
    }
}
