//! Builds the analytics API from its config: pools, flags, Redis, routes.

use std::sync::Arc;

use kit::Config;
use kit::app::Core;
use kit::http::ReadyCheck;
use kit::metrics::Metrics;

use crate::buckets::Keys;
use crate::levers::{Dashboards, Sources, request_coalescing};
use crate::redis_conn::RedisConn;
use crate::routes;
use crate::state::AppState;
use crate::topology::Names;

/// Name used in metrics, traces and logs.
pub const SERVICE: &str = "analytics";
/// Postgres connections of one API instance (the naive dashboards and ingest share them).
const POOL_SIZE: u32 = 10;

/// A bound analytics service, ready to run.
pub type Application = kit::app::Application;

/// The bound API plus handles tests look into.
pub struct Api {
    pub app: Application,
    /// The dashboards, whose `stats` count real computations.
    pub dashboards: Dashboards,
    pub metrics: Metrics,
}

/// Connects dependencies and binds `addr`.
pub async fn build(config: Config, addr: &str) -> anyhow::Result<Application> {
    Ok(build_api(config, addr).await?.app)
}

/// Like [`build`], keeping handles on the dashboards and metrics.
pub async fn build_api(config: Config, addr: &str) -> anyhow::Result<Api> {
    let core = Core::connect(SERVICE, config.clone(), POOL_SIZE).await?;
    let redis = RedisConn::connect(&config.redis_url).await?;
    let keys = Keys::new(&config.redis_prefix);
    let sources = Sources { db: core.db.clone(), redis: redis.clone(), keys: keys.clone(), flags: core.flags.clone() };
    let dashboards = Dashboards::new(sources, core.metrics.clone());
    let state = AppState {
        db: core.db.clone(),
        metrics: core.metrics.clone(),
        names: Names::new(&config.amqp_prefix),
        dashboards: dashboards.clone(),
    };
    let base = core.base().with_ready("redis", ready_redis(redis.clone())).with_status(status(redis, keys));
    let router = kit::http::finish(routes::router(state), base);
    let app = Application::bind(addr, router).await?;
    Ok(Api { app, dashboards, metrics: core.metrics })
}

/// Redis readiness (`PING`).
pub fn ready_redis(redis: RedisConn) -> ReadyCheck {
    Arc::new(move || {
        let redis = redis.clone();
        Box::pin(async move { redis.ping().await.map_err(|e| e.to_string()) })
    })
}

/// What `/admin/flags` shows besides the flags: whether the pre-aggregates can be read yet.
fn status(redis: RedisConn, keys: Keys) -> kit::http::StatusFn {
    Arc::new(move || {
        let (redis, keys) = (redis.clone(), keys.clone());
        Box::pin(async move {
            let ready = crate::backfill::is_ready(&redis, &keys).await.ok();
            serde_json::json!({
                "preaggregates_ready": ready,
                "coalescing_window_ms": request_coalescing::WINDOW.as_millis() as u64,
            })
        })
    })
}
