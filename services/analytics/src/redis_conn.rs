//! One shared, multiplexed Redis connection and a small Lua-script runner.
//!
//! A dashboard read is a single script call. Through a checkout pool every call would pay a `PING` on
//! checkout and wait for one of a handful of connections; a multiplexed connection pipelines every
//! in-flight call over one socket instead, which on this lab's 2-core machine is several times faster
//! (see the field notes on Redis pools). The connection is re-opened after an I/O error, so a Redis
//! restart costs the requests in flight, not the process.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use kit::redis::redis::aio::MultiplexedConnection;
use kit::redis::redis::{self, AsyncConnectionConfig, FromRedisValue, RedisError, RedisResult};
use tokio::sync::OnceCell;

/// How long one command may take: the window rebuild after a long outage unions 168 hour buckets, which is
/// far slower than the driver's 500 ms default allows for.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A lazily (re)connected multiplexed connection; cheap to clone.
#[derive(Clone)]
pub struct RedisConn {
    /// Where to (re)connect.
    client: redis::Client,
    /// The current connection; emptied after a connection-level error.
    conn: Arc<ArcSwapOption<MultiplexedConnection>>,
    /// The URL, for error messages.
    url: String,
}

impl RedisConn {
    /// Connects and checks Redis answers, failing with one actionable line.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).map_err(|e| kit::deps::redis_error(url, &e))?;
        let me = Self { client, conn: Arc::default(), url: url.to_owned() };
        me.ping().await.map_err(|e| kit::deps::redis_error(url, &e))?;
        Ok(me)
    }

    /// The shared connection, opening one if there is none.
    pub async fn get(&self) -> RedisResult<MultiplexedConnection> {
        if let Some(c) = self.conn.load_full() {
            return Ok((*c).clone());
        }
        let cfg = AsyncConnectionConfig::new().set_response_timeout(Some(RESPONSE_TIMEOUT));
        let c = self.client.get_multiplexed_async_connection_with_config(&cfg).await?;
        self.conn.store(Some(Arc::new(c.clone())));
        Ok(c)
    }

    /// Forgets the connection after an error that means it is broken.
    pub fn on_error(&self, e: &RedisError) {
        if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
            self.conn.store(None);
        }
    }

    /// `PING` (readiness checks).
    pub async fn ping(&self) -> RedisResult<()> {
        let mut c = self.get().await?;
        let res: RedisResult<String> = redis::cmd("PING").query_async(&mut c).await;
        res.map(|_| ()).inspect_err(|e| self.on_error(e))
    }

    /// The URL this connection was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// A Lua script run with `EVALSHA`, loaded on first use and again if Redis lost it (restart, `SCRIPT FLUSH`).
pub struct Lua {
    /// The script source.
    src: &'static str,
    /// Its SHA1 as Redis reported it at `SCRIPT LOAD`.
    sha: OnceCell<String>,
}

impl Lua {
    /// A script from its source (usually `include_str!`).
    pub const fn new(src: &'static str) -> Self {
        Self { src, sha: OnceCell::const_new() }
    }

    /// Runs the script with `args` inside a Redis span named `op`; `key` is the key (prefix) it works on.
    pub async fn run<T: FromRedisValue>(&self, redis: &RedisConn, op: &'static str, key: &str, args: &[&[u8]]) -> RedisResult<T> {
        let res = kit::redis::traced(op, key, self.run_untraced(redis, args)).await;
        if let Err(e) = &res {
            redis.on_error(e);
        }
        res
    }

    async fn run_untraced<T: FromRedisValue>(&self, redis: &RedisConn, args: &[&[u8]]) -> RedisResult<T> {
        let mut conn = redis.get().await?;
        let sha = self.sha.get_or_try_init(|| async { self.load(&mut conn).await }).await?;
        match evalsha(&mut conn, sha, args).await {
            Err(e) if e.code() == Some("NOSCRIPT") => {
                self.load(&mut conn).await?;
                evalsha(&mut conn, sha, args).await
            }
            other => other,
        }
    }

    async fn load(&self, conn: &mut MultiplexedConnection) -> RedisResult<String> {
        redis::cmd("SCRIPT").arg("LOAD").arg(self.src).query_async(conn).await
    }
}

async fn evalsha<T: FromRedisValue>(conn: &mut MultiplexedConnection, sha: &str, args: &[&[u8]]) -> RedisResult<T> {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(sha).arg(0);
    for a in args {
        cmd.arg(*a);
    }
    cmd.query_async(conn).await
}
