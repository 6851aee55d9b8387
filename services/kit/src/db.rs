//! Postgres access with one span per SQL statement and a per-request query count.
//!
//! sqlx emits log events, not spans, so a trace would not show the N+1 pattern case study 1 is about.
//! Every statement therefore runs through [`traced`], which opens a CLIENT span named like
//! `SELECT catalog.prices` with the `db.*` attributes Tempo's service graph needs, and bumps the query
//! counter of the request it runs in (read by the HTTP middleware into `shoplab_db_queries_per_request`).
//!
//! Every pool opened here is bounded in time as well as size: a statement may run at most
//! [`STATEMENT_TIMEOUT`], a transaction may sit idle at most [`IDLE_IN_TRANSACTION_TIMEOUT`] (Postgres
//! ends the session, releasing its locks, instead of letting a stuck client hold them for ever), and a
//! request waits at most [`ACQUIRE_TIMEOUT`] for a connection before it is refused with a 503.

use std::collections::HashMap;
use std::future::IntoFuture;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, RwLock};
use std::time::{Duration, Instant};

use prometheus_client::metrics::histogram::Histogram;
use sqlx::PgPool;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tracing::Instrument;

use crate::deps;
use crate::metrics::{Metrics, PoolLabels};

/// Longest a single statement may run on a service pool: far above what any lever's naive path is meant
/// to show, so only a stuck statement (a lock wait, a runaway plan) reaches it.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a transaction may sit idle before Postgres ends the session and frees what it locked.
pub const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest a request waits for a free connection before it is answered 503.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// What the current request (or job) did with the database; set by [`count_queries`].
#[derive(Default)]
struct Usage {
    /// Statements run so far.
    queries: AtomicU64,
    /// Whether a connection wait ran out (the pool was exhausted).
    pool_timed_out: AtomicBool,
}

tokio::task_local! {
    static USAGE: Arc<Usage>;
}

/// Runs `fut` while counting the statements it issues through [`traced`]; returns the result and the count.
pub async fn count_queries<F: Future>(fut: F) -> (F::Output, u64) {
    let (out, queries, _) = count_queries_and_waits(fut).await;
    (out, queries)
}

/// Like [`count_queries`], also telling whether a connection wait timed out on the way (the HTTP
/// middleware turns such a failure into a 503).
pub async fn count_queries_and_waits<F: Future>(fut: F) -> (F::Output, u64, bool) {
    let usage = Arc::new(Usage::default());
    let out = USAGE.scope(usage.clone(), fut).await;
    (out, usage.queries.load(Ordering::Relaxed), usage.pool_timed_out.load(Ordering::Relaxed))
}

/// Notes a pool timeout for the current request, if `res` is one.
fn note_wait<T>(res: &Result<T, sqlx::Error>) {
    if matches!(res, Err(sqlx::Error::PoolTimedOut)) {
        let _ = USAGE.try_with(|u| u.pool_timed_out.store(true, Ordering::Relaxed));
    }
}

/// Connection options of `url` with the session timeouts every service pool carries.
pub fn connect_options(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    let opts: PgConnectOptions = url.parse()?;
    let ms = |d: Duration| d.as_millis().to_string();
    Ok(opts.options([
        ("statement_timeout", ms(STATEMENT_TIMEOUT)),
        ("idle_in_transaction_session_timeout", ms(IDLE_IN_TRANSACTION_TIMEOUT)),
    ]))
}

/// Opens a bounded pool of `max` connections on `url`: session timeouts and [`ACQUIRE_TIMEOUT`].
pub async fn connect_pool(url: &str, max: u32) -> anyhow::Result<PgPool> {
    let opts = connect_options(url).map_err(|e| deps::postgres_error(url, &e))?;
    PgPoolOptions::new()
        .max_connections(max.max(1))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(opts)
        .await
        .map_err(|e| deps::postgres_error(url, &e))
}

/// Runs one SQL statement inside its own span and counts it for the current request.
///
/// `sql` is the statement text (parameterised, so it is safe to record); `fut` is the sqlx call built
/// from it, e.g. `traced(SQL, sqlx::query_as(SQL).bind(id).fetch_one(&mut *conn))`.
pub async fn traced<T, F>(sql: &str, fut: F) -> Result<T, sqlx::Error>
where
    F: IntoFuture<Output = Result<T, sqlx::Error>>,
{
    let _ = USAGE.try_with(|u| u.queries.fetch_add(1, Ordering::Relaxed));
    let d = described(sql);
    let span = tracing::info_span!(
        "db.query",
        otel.name = d.name.as_ref(),
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        db.system.name = "postgresql",
        db.operation.name = d.op.as_ref(),
        db.collection.name = d.collection.as_ref(),
        db.query.text = sql,
    );
    let res = fut.into_future().instrument(span.clone()).await;
    note_wait(&res);
    if let Err(e) = &res {
        span.record("otel.status_code", "ERROR");
        tracing::debug!(parent: &span, event = "db_error", error = %e);
    }
    res
}

/// A statement's span name, operation and table, worked out once per statement text.
struct Described {
    name: Arc<str>,
    op: Arc<str>,
    collection: Arc<str>,
}

/// Statements described so far. Their texts come from the code, so there are few; the bound only guards
/// against a caller that builds statement texts at run time.
static DESCRIBED: LazyLock<RwLock<HashMap<String, Arc<Described>>>> = LazyLock::new(Default::default);
const DESCRIBED_MAX: usize = 1024;

/// [`describe`], cached: splitting and case-folding a statement on every execution showed in the
/// profiles of the after states (docs/performance.md).
fn described(sql: &str) -> Arc<Described> {
    if let Some(d) = DESCRIBED.read().expect("statement names poisoned").get(sql) {
        return d.clone();
    }
    let (op, collection) = describe(sql);
    let name = if collection.is_empty() { op.clone() } else { format!("{op} {collection}") };
    let d = Arc::new(Described { name: name.into(), op: op.into(), collection: collection.into() });
    let mut cache = DESCRIBED.write().expect("statement names poisoned");
    if cache.len() < DESCRIBED_MAX {
        cache.insert(sql.to_owned(), d.clone());
    }
    d
}

/// The operation (`SELECT`) and first table (`catalog.prices`) of a statement, for the span name.
pub fn describe(sql: &str) -> (String, String) {
    let words: Vec<&str> = sql.split_whitespace().collect();
    let op = words.first().map(|w| w.to_uppercase()).unwrap_or_default();
    let op = if op == "WITH" { "SELECT".to_owned() } else { op };
    let table = words
        .windows(2)
        .find(|w| matches!(w[0].to_lowercase().as_str(), "from" | "into" | "update" | "table") && !w[1].starts_with('('))
        .map(|w| w[1].trim_matches(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.')).to_owned())
        .unwrap_or_default();
    (op, table)
}

/// A named Postgres pool whose connection waits are timed and traced.
#[derive(Clone)]
pub struct Db {
    /// The sqlx pool itself.
    pub pool: PgPool,
    /// Pool name for metrics (`shared`, `critical`, `noncritical`, ...).
    name: String,
    /// `shoplab_db_pool_acquire_seconds{pool=<name>}`, resolved once (no label lookup per acquire).
    acquire: Histogram,
}

impl Db {
    /// Opens a bounded pool of at most `max` connections ([`connect_pool`]) and registers it for the pool
    /// metrics.
    pub async fn connect(url: &str, name: &str, max: u32, metrics: &Metrics) -> anyhow::Result<Self> {
        let pool = connect_pool(url, max).await?;
        Ok(Self::from_pool(pool, name, metrics))
    }

    /// Wraps an existing pool (tests, shared pools).
    pub fn from_pool(pool: PgPool, name: &str, metrics: &Metrics) -> Self {
        metrics.track_pool(name, pool.clone());
        let acquire = metrics.pool_acquire.get_or_create(&PoolLabels { pool: name.to_owned() }).clone();
        Self { pool, name: name.to_owned(), acquire }
    }

    /// Takes a connection, recording the wait in `shoplab_db_pool_acquire_seconds` and a span.
    pub async fn acquire(&self) -> Result<PoolConnection<sqlx::Postgres>, sqlx::Error> {
        let started = Instant::now();
        let span = tracing::info_span!("db.pool.acquire", db.system.name = "postgresql", pool = %self.name);
        let conn = self.pool.acquire().instrument(span).await;
        self.observe_wait(started);
        note_wait(&conn);
        conn
    }

    /// Starts a transaction, timing the connection wait like [`Db::acquire`].
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        let started = Instant::now();
        let span = tracing::info_span!("db.pool.acquire", db.system.name = "postgresql", pool = %self.name);
        let tx = self.pool.begin().instrument(span).await;
        self.observe_wait(started);
        note_wait(&tx);
        tx
    }

    fn observe_wait(&self, started: Instant) {
        self.acquire.observe(started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn names_operation_and_table() {
        let (op, t) = describe("select amount_cents from catalog.prices where product_id = $1");
        assert_eq!((op.as_str(), t.as_str()), ("SELECT", "catalog.prices"));
        let (op, t) = describe("insert into orders.outbox (id) values ($1)");
        assert_eq!((op.as_str(), t.as_str()), ("INSERT", "orders.outbox"));
        let (op, t) = describe("update lab.flags set value = $2");
        assert_eq!((op.as_str(), t.as_str()), ("UPDATE", "lab.flags"));
    }

    #[test]
    fn subquery_is_not_a_table() {
        let (_, t) = describe("select * from (select 1) x join catalog.items p on true");
        assert_eq!(t, "");
    }
}
