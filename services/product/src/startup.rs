//! Builds the product service from its config: pools, flags, cache, levers' background tasks, routes.

use std::sync::Arc;

use kit::Config;
use kit::app::Core;
use kit::config::env_or;
use serde_json::json;

use crate::cache::Keys;
use crate::levers::redis_multiplexing::Redis;
use crate::levers::{cache_warming, composite_indexes, local_cache};
use crate::state::AppState;

/// Name used in metrics, traces and logs.
pub const SERVICE: &str = "product";

/// Postgres pool size (`PRODUCT_DB_POOL`, default 10). Small on purpose: the database has 2 cores here,
/// and under the naive levers a saturated pool is what the "pool in use / wait" panel should show.
const DB_POOL: &str = "10";

/// Redis pool size. deadpool's default (4) would cap cache lookups at 4 in flight (each checkout also
/// pings); 32 keeps the cache from being the bottleneck at workshop rates.
pub const REDIS_POOL: usize = 32;

/// A bound product service, ready to run.
pub type Application = kit::app::Application;

/// Connects dependencies, starts the levers' background tasks and binds `addr`.
pub async fn build(config: Config, addr: &str) -> anyhow::Result<Application> {
    let pool_size: u32 =
        env_or("PRODUCT_DB_POOL", DB_POOL).parse().map_err(|_| anyhow::anyhow!("PRODUCT_DB_POOL must be a number"))?;
    let core = Core::connect(SERVICE, config.clone(), pool_size).await?;
    let pool = kit::redis::connect(&config.redis_url, REDIS_POOL).await?;
    let redis = Redis::connect(&config.redis_url, pool.clone(), core.flags.clone()).await?;
    let keys = Keys::new(&config.redis_prefix);
    let state = AppState {
        db: core.db.clone(),
        redis,
        flags: core.flags.clone(),
        metrics: core.metrics.clone(),
        keys: keys.clone(),
        database_url: config.database_url.clone(),
        admin_token: config.admin_token.clone(),
        flights: Default::default(),
        local: Default::default(),
    };
    local_cache::spawn_listener(state.local.clone(), config.redis_url.clone(), keys.invalidations());
    composite_indexes::spawn(state.clone());
    cache_warming::spawn(state.clone());
    let base = core.base().with_ready("redis", ready_redis(pool)).with_status(status(state.clone()));
    let router = kit::http::finish(crate::routes::router(state), base);
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
