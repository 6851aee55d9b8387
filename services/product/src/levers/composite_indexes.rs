//! Lever `product.composite_indexes` — book chapter "Database and Storage Selection" (EXPLAIN, composite and
//! covering indexes).
//!
//! The book: the team added "composite indexes for the common query patterns found in slow-query logs".
//! Here those patterns are the current price of a product (newest `valid_from` first), its stock, a
//! category's products by popularity, all products by popularity, and full-text search. The cost: every
//! index is written on every insert/update and takes disk and memory; an index nobody's query matches is
//! pure cost, which is why each one here names the query it serves.
//!
//! - **naive** (off): only primary keys (migration 0002). A price lookup is a sequential scan of the whole
//!   price history; stock by product too (the inventory key starts with the warehouse).
//! - **optimized** (on): the indexes of [`INDEXES`], built `CONCURRENTLY` (no table lock, the service keeps
//!   serving) under a Postgres advisory lock so that of several instances exactly one does the work.
//!
//! The lever is reconciled at start and on every flag change (`flags.subscribe()`): on creates what is
//! missing (and rebuilds an index a failed concurrent build left invalid), off drops them. Whether they
//! exist is shown under `status.composite_indexes` in `GET /admin/flags`.

use std::time::Instant;

use kit::db::traced;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, PgPool};
use tracing::Instrument;

use crate::state::AppState;

/// One index the lever owns.
#[derive(Clone, Copy, Debug)]
pub struct IndexDef {
    pub name: &'static str,
    /// `create index concurrently if not exists ...`
    pub create: &'static str,
    /// `drop index concurrently if exists ...`
    pub drop: &'static str,
    /// The query it serves, for logs and the admin view.
    pub serves: &'static str,
}

/// The indexes the hot queries need (see `eager_loading::sql`).
pub const INDEXES: &[IndexDef] = &[
    IndexDef {
        name: "prices_product_valid_from_idx",
        create: "create index concurrently if not exists prices_product_valid_from_idx \
                 on product.prices (product_id, valid_from desc) include (amount_cents, currency)",
        drop: "drop index concurrently if exists product.prices_product_valid_from_idx",
        serves: "current price by product (newest valid_from first), covering",
    },
    IndexDef {
        name: "inventory_product_idx",
        create: "create index concurrently if not exists inventory_product_idx \
                 on product.inventory (product_id, warehouse_id) include (quantity)",
        drop: "drop index concurrently if exists product.inventory_product_idx",
        serves: "stock by product, covering",
    },
    IndexDef {
        name: "products_category_popularity_idx",
        create: "create index concurrently if not exists products_category_popularity_idx \
                 on product.products (category_id, popularity desc, id)",
        drop: "drop index concurrently if exists product.products_category_popularity_idx",
        serves: "listing by category + popularity (keyset pages)",
    },
    IndexDef {
        name: "products_popularity_idx",
        create: "create index concurrently if not exists products_popularity_idx on product.products (popularity desc, id)",
        drop: "drop index concurrently if exists product.products_popularity_idx",
        serves: "listing of all products by popularity, cache warming's top N",
    },
    IndexDef {
        name: "products_search_idx",
        create: "create index concurrently if not exists products_search_idx on product.products using gin (search)",
        drop: "drop index concurrently if exists product.products_search_idx",
        serves: "full-text search (GIN on the stored to_tsvector column)",
    },
];

/// How long to wait before reconciling again after a failure.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// Advisory lock key: one index builder per database, whatever the number of instances.
const LOCK_KEY: i64 = 0x5348_4f50_0001;

/// Reconciles at start and whenever the flags change, in the background.
pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        let mut changes = state.flags.subscribe();
        loop {
            let want = state.flags.bool("product.composite_indexes");
            let span = tracing::info_span!("composite_indexes.reconcile", want);
            let failed = match reconcile(&state.db.pool, &state.database_url, want).instrument(span).await {
                Ok(()) => false,
                Err(e) => {
                    tracing::error!(event = "composite_indexes_failed", want, error = %format!("{e:#}"));
                    true
                }
            };
            // after a failure (database restarting, a build cancelled) try again even without a flip
            let retry =
                async { if failed { tokio::time::sleep(RETRY_AFTER).await } else { futures::future::pending::<()>().await } };
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                _ = retry => {}
            }
        }
    });
}

/// Index name -> valid? for the lever's indexes that exist.
async fn present(conn: impl sqlx::PgExecutor<'_>) -> Result<Vec<(String, bool)>, sqlx::Error> {
    const SQL: &str = "select c.relname::text, i.indisvalid from pg_index i join pg_class c on c.oid = i.indexrelid \
                       join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'product' and c.relname = any($1)";
    let names: Vec<&str> = INDEXES.iter().map(|d| d.name).collect();
    traced(SQL, sqlx::query_as(SQL).bind(names).fetch_all(conn)).await
}

fn in_sync(want: bool, present: &[(String, bool)]) -> bool {
    if want { present.len() == INDEXES.len() && present.iter().all(|(_, valid)| *valid) } else { present.is_empty() }
}

/// Makes the database match `want`; a no-op (one catalogue query) when it already does.
pub async fn reconcile(pool: &PgPool, database_url: &str, want: bool) -> anyhow::Result<()> {
    if in_sync(want, &present(pool).await?) {
        return Ok(());
    }
    // CONCURRENTLY cannot run in a transaction and the advisory lock is per session: use a connection
    // of our own, closed at the end (which also releases the lock if anything below fails).
    let mut conn = PgConnection::connect(database_url).await?;
    const LOCK: &str = "select pg_advisory_lock($1)";
    traced(LOCK, sqlx::query(LOCK).bind(LOCK_KEY).execute(&mut conn)).await?;
    let res = apply(&mut conn, want).await;
    const UNLOCK: &str = "select pg_advisory_unlock($1)";
    let _ = traced(UNLOCK, sqlx::query(UNLOCK).bind(LOCK_KEY).execute(&mut conn)).await;
    let _ = conn.close().await;
    res
}

/// Under the lock: re-read (another instance may have finished while we waited), then create or drop.
async fn apply(conn: &mut PgConnection, want: bool) -> anyhow::Result<()> {
    let present = present(&mut *conn).await?;
    for def in INDEXES {
        let state = present.iter().find(|(n, _)| n == def.name).map(|(_, valid)| *valid);
        let started = Instant::now();
        match (want, state) {
            (true, Some(true)) | (false, None) => continue,
            (true, Some(false)) => {
                // a failed concurrent build leaves an invalid index that `if not exists` would keep
                traced(def.drop, sqlx::raw_sql(def.drop).execute(&mut *conn)).await?;
                traced(def.create, sqlx::raw_sql(def.create).execute(&mut *conn)).await?;
            }
            (true, None) => {
                traced(def.create, sqlx::raw_sql(def.create).execute(&mut *conn)).await?;
            }
            (false, Some(_)) => {
                traced(def.drop, sqlx::raw_sql(def.drop).execute(&mut *conn)).await?;
            }
        }
        let action = if want { "created" } else { "dropped" };
        tracing::info!(
            event = "composite_index",
            action,
            index = def.name,
            serves = def.serves,
            elapsed_ms = started.elapsed().as_millis() as u64
        );
    }
    Ok(())
}

/// What `GET /admin/flags` shows under `status.composite_indexes`.
pub async fn status(pool: &PgPool, want: bool) -> Value {
    match present(pool).await {
        Ok(present) => {
            let names =
                |valid: bool| -> Vec<&str> { present.iter().filter(|(_, v)| *v == valid).map(|(n, _)| n.as_str()).collect() };
            let missing: Vec<&str> = INDEXES.iter().map(|d| d.name).filter(|n| !present.iter().any(|(p, _)| p == n)).collect();
            json!({
                "wanted": want,
                "in_sync": in_sync(want, &present),
                "present": names(true),
                "invalid": names(false),
                "missing": missing,
            })
        }
        Err(e) => json!({ "wanted": want, "error": e.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_sync_needs_every_index_valid_or_none() {
        let all: Vec<(String, bool)> = INDEXES.iter().map(|d| (d.name.to_owned(), true)).collect();
        assert!(in_sync(true, &all));
        assert!(!in_sync(false, &all));
        assert!(in_sync(false, &[]));
        let mut one_invalid = all.clone();
        one_invalid[0].1 = false;
        assert!(!in_sync(true, &one_invalid));
    }

    #[test]
    fn every_index_is_created_and_dropped_concurrently_in_the_product_schema() {
        for d in INDEXES {
            assert!(d.create.starts_with("create index concurrently if not exists ") && d.create.contains(d.name));
            assert!(d.drop == format!("drop index concurrently if exists product.{}", d.name));
        }
    }
}
