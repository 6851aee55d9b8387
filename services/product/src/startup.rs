//! Builds the product service from its config: pools, flags, cache, levers' background tasks, routes.

use std::sync::Arc;

use kit::Config;
use kit::app::Core;
use serde_json::json;

use crate::cache::Keys;
use crate::levers::redis_multiplexing::Redis;
use crate::levers::{cache_warming, composite_indexes, compression, hedged_requests, load_shedding, local_cache};
use crate::metrics::ProductMetrics;
use crate::state::AppState;

/// Name used in metrics, traces and logs.
pub const SERVICE: &str = "product";

/// Postgres pool size (`PRODUCT_DB_POOL`, default 10). Small on purpose: the database has 2 cores here,
/// and under the naive levers a saturated pool is what the "pool in use / wait" panel should show.
pub const DB_POOL: u32 = 10;

/// Redis pool size. deadpool's default (4) would cap cache lookups at 4 in flight (each checkout also
/// pings); 32 keeps the cache from being the bottleneck at workshop rates.
pub const REDIS_POOL: usize = 32;

/// A bound product service, ready to run.
pub type Application = kit::app::Application;

/// Connects dependencies, starts the levers' background tasks and binds `addr` (default pool size).
pub async fn build(config: Config, addr: &str) -> anyhow::Result<Application> {
    build_with(config, addr, DB_POOL, DEFAULT_INVENTORY_URL).await
}

/// Where the simulated inventory answers by default (the simulated provider, `shoplab email-provider`).
pub const DEFAULT_INVENTORY_URL: &str = "http://127.0.0.1:8090";

/// [`build`] with `pool_size` Postgres connections (`shoplab product --db-pool`) and the simulated
/// inventory at `inventory_url` (`--inventory-url`).
pub async fn build_with(config: Config, addr: &str, pool_size: u32, inventory_url: &str) -> anyhow::Result<Application> {
    let core = Core::connect(SERVICE, config.clone(), pool_size).await?;
    let pool = kit::redis::connect(&config.redis_url, REDIS_POOL).await?;
    let redis = Redis::connect(&config.redis_url, pool.clone(), core.flags.clone()).await?;
    let keys = Keys::new(&config.redis_prefix);
    let state = AppState {
        db: core.db.clone(),
        redis,
        flags: core.flags.clone(),
        metrics: core.metrics.clone(),
        product_metrics: ProductMetrics::of(&core.metrics),
        keys: keys.clone(),
        database_url: config.database_url.clone(),
        admin_token: config.admin_token.clone(),
        flights: Default::default(),
        shedder: load_shedding::Shedder::new(&core.metrics),
        hedger: hedged_requests::Hedger::new(inventory_url, &core.metrics)?,
        local: Default::default(),
    };
    local_cache::spawn_listener(state.local.clone(), config.redis_url.clone(), keys.invalidations());
    // the local tier's series at 0 from the start (its panels read 0 while the lever is off, not no data)
    for result in ["hit", "miss"] {
        drop(state.metrics.cache_requests.get_or_create(&kit::metrics::CacheLabels { cache: "local", result }));
    }
    composite_indexes::spawn(state.clone());
    cache_warming::spawn(state.clone());
    let base = core.base().with_ready("redis", ready_redis(pool)).with_status(status(state.clone()));
    // compression inside the byte count, so the count is of the bytes that leave (docs/architecture.md, "Metrics")
    let router = kit::http::finish(crate::routes::router(state.clone()), base)
        .layer(compression::layer(state.flags.clone()))
        .layer(axum::middleware::from_fn_with_state(state.product_metrics.clone(), crate::metrics::count_body_bytes));
    Application::bind(addr, router).await
}

fn ready_redis(redis: deadpool_redis::Pool) -> kit::http::ReadyCheck {
    Arc::new(move || {
        let redis = redis.clone();
        Box::pin(async move { kit::redis::ping(&redis).await.map_err(|e| e.to_string()) })
    })
}

/// `status` of `GET /admin/flags`: whether the lever's indexes exist.
fn status(state: AppState) -> kit::http::StatusFn {
    Arc::new(move || {
        let state = state.clone();
        Box::pin(async move {
            let want = state.flags.bool("product.composite_indexes");
            json!({ "composite_indexes": composite_indexes::status(&state.db.pool, want).await })
        })
    })
}
