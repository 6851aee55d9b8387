//! The one state struct of the product service, built once at start and cloned into every handler.

use kit::db::Db;
use kit::flags::Flags;
use kit::metrics::Metrics;

use crate::cache::Keys;
use std::sync::Arc;

use crate::levers::hedged_requests::Hedger;
use crate::levers::load_shedding::Shedder;
use crate::levers::local_cache::LocalCache;
use crate::levers::redis_multiplexing::Redis;
use crate::levers::refresh_ahead::Flights;
use crate::metrics::ProductMetrics;

/// Everything a handler or background task needs; cheap to clone (every field is a shared handle).
#[derive(Clone)]
pub struct AppState {
    /// The main Postgres pool (its waits show in `shoplab_db_pool_acquire_seconds{pool="shared"}`).
    pub db: Db,
    /// Redis for the cache: a pool sized deliberately (see `startup::REDIS_POOL`) or one multiplexed
    /// connection, per operation (the `product.redis_multiplexing` lever).
    pub redis: Redis,
    /// The lever snapshot: reading a flag costs no I/O.
    pub flags: Flags,
    pub metrics: Metrics,
    /// The product service's own families (response bytes, revalidations), registered in `metrics`.
    pub product_metrics: Arc<ProductMetrics>,
    /// Cache key builder under this instance's Redis prefix.
    pub keys: Keys,
    /// Where the index lever opens its own connection (its advisory lock is session-scoped).
    pub database_url: String,
    /// Bearer token `PUT /products/{id}/price` expects; `None` refuses price writes.
    pub admin_token: Option<kit::config::SecretString>,
    /// In-process single-flight bookkeeping of the refresh-ahead lever.
    pub flights: Flights,
    /// The load-shedding lever's slots and counter.
    pub shedder: Arc<Shedder>,
    /// The inventory dependency's client and the hedging lever's bookkeeping.
    pub hedger: Arc<Hedger>,
    /// The in-process cache tier of the local-cache lever (empty while it is off).
    pub local: LocalCache,
}
