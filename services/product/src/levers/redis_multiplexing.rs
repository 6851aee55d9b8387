//! Lever `product.redis_multiplexing` — book chapter "Network Optimization" (connection reuse).
//!
//! The book's network chapter: reuse connections instead of paying a setup per request, and keep the
//! number of round trips per operation down. A connection pool does the first, but the way it checks a
//! connection out can undo the second: deadpool-redis (the pool behind the cache) sends a `PING` on every
//! checkout to make sure the connection it hands out is alive, so every cache lookup costs two round
//! trips, and the pool size caps how many lookups are in flight.
//!
//! - **naive** (off): every Redis operation checks a connection out of the pool (`startup::REDIS_POOL`
//!   connections) — one `PING` round trip, then the command — and gives it back.
//! - **optimized** (on): every operation goes over one shared **multiplexed** connection
//!   (`redis::aio::ConnectionManager`): requests from every task are pipelined onto the same socket and
//!   matched to their replies in order, with no checkout, no `PING`, no cap but the socket. The manager
//!   reconnects by itself when the connection drops (the commands in flight then fail once).
//!
//! The switch is read on every checkout ([`Redis::get`]), so a flip applies to the next command. Measured
//! on the lab machine (bare axum handlers, release build, wrk -c50): one Redis GET through the pool ~15k
//! req/s, over one multiplexed connection ~62k; the product detail page: docs/levers/product.redis_multiplexing.md. What it costs: one socket serialises every command, so one slow command
//! (a large `MGET`, a Lua script) delays the ones queued behind it — head-of-line blocking a pool
//! avoids — and blocking commands (`BLPOP`, `SUBSCRIBE`) must never use it.
//!
//! What to watch: Redis `INFO commandstats` — `cmdstat_ping` calls per request fall from about one per
//! Redis operation to 0 (`shoplab lever product.redis_multiplexing --compare` shows it), and the detail
//! endpoint's throughput when it is served from the cache.

use deadpool_redis::Pool;
use kit::flags::Flags;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// The product service's way to Redis: the pool and the multiplexed connection, chosen per operation.
#[derive(Clone)]
pub struct Redis {
    /// The pool (naive path).
    pool: Pool,
    /// One multiplexed, self-reconnecting connection shared by every task (optimized path).
    shared: ConnectionManager,
    /// The lever snapshot, read on every checkout.
    flags: Flags,
}

/// A connection for one operation: checked out of the pool, or a handle on the shared one.
pub enum Conn {
    Pooled(deadpool_redis::Connection),
    Shared(ConnectionManager),
}

impl Redis {
    /// Opens the multiplexed connection beside an existing pool (both to `url`).
    pub async fn connect(url: &str, pool: Pool, flags: Flags) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let shared = client.get_connection_manager().await?;
        Ok(Self { pool, shared, flags })
    }

    /// A connection for the next operation, the way the flag says.
    pub async fn get(&self) -> anyhow::Result<Conn> {
        if self.flags.bool("product.redis_multiplexing") {
            Ok(Conn::Shared(self.shared.clone())) // a handle: cloning opens nothing
        } else {
            Ok(Conn::Pooled(self.pool.get().await?)) // checkout: PING, then the connection is ours
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Pooled(c) => c.req_packed_command(cmd),
            Conn::Shared(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(&'a mut self, pipe: &'a Pipeline, offset: usize, count: usize) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Pooled(c) => c.req_packed_commands(pipe, offset, count),
            Conn::Shared(c) => c.req_packed_commands(pipe, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Pooled(c) => c.get_db(),
            Conn::Shared(c) => c.get_db(),
        }
    }
}
