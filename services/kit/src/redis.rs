//! Redis pools with one span per command.
//!
//! redis-rs has no tracing of its own; [`traced`] wraps a command so the cache lookups of case 1 and
//! the bucket reads of case 2 show in the trace next to the SQL they replace. Spans are only created
//! under a request or job span, where they belong.

use std::time::Duration;

use deadpool_redis::redis::RedisResult;
use deadpool_redis::{Config as PoolConfig, Pool, PoolConfig as Sizes, Runtime, Timeouts};
use tracing::Instrument;

pub use deadpool_redis::redis;

use crate::deps;

/// Opens a pool of `size` connections and checks Redis answers.
pub async fn connect(url: &str, size: usize) -> anyhow::Result<Pool> {
    let mut cfg = PoolConfig::from_url(url);
    let mut sizes = Sizes::new(size);
    sizes.timeouts = Timeouts {
        wait: Some(Duration::from_secs(5)),
        create: Some(Duration::from_secs(3)),
        recycle: Some(Duration::from_secs(3)),
    };
    cfg.pool = Some(sizes);
    let pool = cfg.create_pool(Some(Runtime::Tokio1)).map_err(|e| deps::redis_error(url, &e))?;
    ping(&pool).await.map_err(|e| deps::redis_error(url, &e))?;
    Ok(pool)
}

/// `PING` through the pool (readiness and doctor).
pub async fn ping(pool: &Pool) -> anyhow::Result<()> {
    let mut conn = pool.get().await?;
    let _: String = redis::cmd("PING").query_async(&mut conn).await?;
    Ok(())
}

/// Runs one Redis command inside a CLIENT span named after its operation.
pub async fn traced<T, F>(op: &'static str, key: &str, fut: F) -> RedisResult<T>
where
    F: Future<Output = RedisResult<T>>,
{
    if tracing::Span::current().is_none() {
        return fut.await;
    }
    let span = tracing::info_span!(
        "redis.command",
        otel.name = op,
        otel.kind = "client",
        db.system.name = "redis",
        db.operation.name = op,
        db.query.text = %format_args!("{op} {key}"),
    );
    fut.instrument(span).await
}

/// Deletes every key starting with `prefix` (tests and `shoplab` cache resets).
pub async fn delete_prefix(pool: &Pool, prefix: &str) -> anyhow::Result<u64> {
    let mut conn = pool.get().await?;
    let mut deleted = 0;
    let mut cursor = Some(0);
    while let Some(at) = cursor {
        let (next, keys) = scan_page(&mut conn, at, prefix).await?;
        if !keys.is_empty() {
            deleted += redis::cmd("UNLINK").arg(&keys).query_async::<u64>(&mut conn).await?;
        }
        cursor = next;
    }
    Ok(deleted)
}

/// Counts the keys starting with `prefix` (SCAN, so Redis is never blocked).
pub async fn count_prefix(pool: &Pool, prefix: &str) -> anyhow::Result<u64> {
    let mut conn = pool.get().await?;
    let mut total = 0;
    let mut cursor = Some(0);
    while let Some(at) = cursor {
        let (next, keys) = scan_page(&mut conn, at, prefix).await?;
        total += keys.len() as u64;
        cursor = next;
    }
    Ok(total)
}

/// One SCAN page of the keys under `prefix`; the next cursor is None when the scan is complete.
async fn scan_page(conn: &mut deadpool_redis::Connection, cursor: u64, prefix: &str) -> RedisResult<(Option<u64>, Vec<String>)> {
    let (next, keys): (u64, Vec<String>) =
        redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(format!("{prefix}*")).arg("COUNT").arg(1000).query_async(conn).await?;
    Ok(((next != 0).then_some(next), keys))
}
