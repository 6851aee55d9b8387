//! Postgres access with one span per SQL statement and a per-request query count.
//!
//! sqlx emits log events, not spans, so a trace would not show the N+1 pattern case study 1 is about.
//! Every statement therefore runs through [`traced`], which opens a CLIENT span named like
//! `SELECT product.prices` with the `db.*` attributes Tempo's service graph needs, and bumps the query
//! counter of the request it runs in (read by the HTTP middleware into `shoplab_db_queries_per_request`).

use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPoolOptions;
use tracing::Instrument;

use crate::deps;
use crate::metrics::{Metrics, PoolLabels};

tokio::task_local! {
    /// Statements run so far by the current request (or job); set by [`count_queries`].
    static QUERIES: Arc<AtomicU64>;
}

/// Runs `fut` while counting the statements it issues through [`traced`]; returns the result and the count.
pub async fn count_queries<F: Future>(fut: F) -> (F::Output, u64) {
    let counter = Arc::new(AtomicU64::new(0));
    let out = QUERIES.scope(counter.clone(), fut).await;
    (out, counter.load(Ordering::Relaxed))
}

/// Runs one SQL statement inside its own span and counts it for the current request.
///
/// `sql` is the statement text (parameterised, so it is safe to record); `fut` is the sqlx call built
/// from it, e.g. `traced(SQL, sqlx::query_as(SQL).bind(id).fetch_one(&mut *conn))`.
pub async fn traced<T, F>(sql: &str, fut: F) -> Result<T, sqlx::Error>
where
    F: IntoFuture<Output = Result<T, sqlx::Error>>,
{
    let _ = QUERIES.try_with(|q| q.fetch_add(1, Ordering::Relaxed));
    let (op, collection) = describe(sql);
    let name = if collection.is_empty() { op.clone() } else { format!("{op} {collection}") };
    let span = tracing::info_span!(
        "db.query",
        otel.name = %name,
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        db.system.name = "postgresql",
        db.operation.name = %op,
        db.collection.name = %collection,
        db.query.text = %sql,
    );
    let res = fut.into_future().instrument(span.clone()).await;
    if let Err(e) = &res {
        span.record("otel.status_code", "ERROR");
        tracing::debug!(parent: &span, event = "db_error", error = %e);
    }
    res
}

/// The operation (`SELECT`) and first table (`product.prices`) of a statement, for the span name.
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
    /// Where acquire times go.
    metrics: Metrics,
}

impl Db {
    /// Opens a pool of at most `max` connections and registers it for the pool metrics.
    pub async fn connect(url: &str, name: &str, max: u32, metrics: &Metrics) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await
            .map_err(|e| deps::postgres_error(url, &e))?;
        Ok(Self::from_pool(pool, name, metrics))
    }

    /// Wraps an existing pool (tests, shared pools).
    pub fn from_pool(pool: PgPool, name: &str, metrics: &Metrics) -> Self {
        metrics.track_pool(name, pool.clone());
        Self { pool, name: name.to_owned(), metrics: metrics.clone() }
    }

    /// Takes a connection, recording the wait in `shoplab_db_pool_acquire_seconds` and a span.
    pub async fn acquire(&self) -> Result<PoolConnection<sqlx::Postgres>, sqlx::Error> {
        let started = Instant::now();
        let span = tracing::info_span!("db.pool.acquire", db.system.name = "postgresql", pool = %self.name);
        let conn = self.pool.acquire().instrument(span).await;
        self.observe_wait(started);
        conn
    }

    /// Starts a transaction, timing the connection wait like [`Db::acquire`].
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        let started = Instant::now();
        let span = tracing::info_span!("db.pool.acquire", db.system.name = "postgresql", pool = %self.name);
        let tx = self.pool.begin().instrument(span).await;
        self.observe_wait(started);
        tx
    }

    fn observe_wait(&self, started: Instant) {
        let labels = PoolLabels { pool: self.name.clone() };
        self.metrics.pool_acquire.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn names_operation_and_table() {
        let (op, t) = describe("select amount_cents from product.prices where product_id = $1");
        assert_eq!((op.as_str(), t.as_str()), ("SELECT", "product.prices"));
        let (op, t) = describe("insert into auth.outbox (id) values ($1)");
        assert_eq!((op.as_str(), t.as_str()), ("INSERT", "auth.outbox"));
        let (op, t) = describe("update lab.flags set value = $2");
        assert_eq!((op.as_str(), t.as_str()), ("UPDATE", "lab.flags"));
    }

    #[test]
    fn subquery_is_not_a_table() {
        let (_, t) = describe("select * from (select 1) x join product.products p on true");
        assert_eq!(t, "");
    }
}
