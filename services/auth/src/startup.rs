//! Builds `auth serve` from its config: pools, flags, state, routes.
//!
//! The lab's own plumbing — the flag snapshot, `/admin/flags` writes and `/readyz` — runs on a separate
//! two-connection pool (`lab`), not on the request pools. The cascade this service demonstrates empties
//! the request pools; the trainer must still be able to flip the levers that cure it.

use std::sync::Arc;
use std::time::Duration;

use kit::Config;
use kit::app::Core;
use kit::flags::Flags;
use kit::http::StatusFn;
use kit::metrics::Metrics;

use crate::levers::bulkheads;
use crate::levers::local_token_validation;
use crate::levers::rate_limit_store::{Buckets, PRUNE_EVERY};
use crate::settings::Settings;
use crate::state::AppState;

/// Name used in metrics, traces and logs.
pub const SERVICE: &str = "auth";

/// A bound auth service, ready to run.
pub type Application = kit::app::Application;

/// Connects dependencies and binds `addr` (port 0 picks a free port). Refuses to start without a usable
/// JWT secret outside lab mode (see [`crate::secret`]).
pub async fn build(config: Config, settings: Settings, addr: &str) -> anyhow::Result<Application> {
    let secret = crate::secret::resolve(settings.jwt_secret.as_ref(), settings.lab_mode)?;
    let core = lab_core(SERVICE, config).await?;
    let state = AppState::new(
        &core.config,
        &settings,
        kit::config::ExposeSecret::expose_secret(&secret),
        core.flags.clone(),
        core.metrics.clone(),
    )
    .await?;
    prune_limiter(Arc::downgrade(&state.buckets));
    local_token_validation::spawn_refresher(state.clone());
    let base = core.base().with_status(status(state.clone(), settings));
    let router = kit::http::finish(crate::routes::router(state), base);
    Application::bind(addr, router).await
}

/// Metrics, flags and the small `lab` pool they (and the admin routes) use.
pub async fn lab_core(service: &'static str, config: Config) -> anyhow::Result<Core> {
    let metrics = Metrics::new(service);
    let lab = bulkheads::pool(&config.database_url, "lab", 2, Duration::from_secs(5), &metrics).await?;
    let flags = Flags::start(lab.pool.clone(), metrics.clone())
        .await
        .map_err(|e| anyhow::anyhow!("cannot read lab.flags ({e}): run `shoplab migrate`"))?;
    Ok(Core { service, config, metrics, db: lab, flags })
}

/// Forgets idle clients' token buckets every minute, for as long as the service lives.
fn prune_limiter(limiter: std::sync::Weak<Buckets>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(PRUNE_EVERY).await;
            match limiter.upgrade() {
                Some(l) => l.prune(),
                None => return,
            }
        }
    });
}

/// `status` of `GET /admin/flags`: the breaker's state and transitions, the pool sizes, the password
/// work's permits and counters, and the login throttle's tables.
fn status(state: AppState, settings: Settings) -> StatusFn {
    Arc::new(move || {
        let state = state.clone();
        let sizes = (settings.shared_pool, settings.critical_pool, settings.noncritical_pool);
        Box::pin(async move {
            serde_json::json!({
                "email_breaker": state.breaker.status(),
                "pools": { "shared": sizes.0, "critical": sizes.1, "noncritical": sizes.2 },
                "password_work": state.passwords.status(),
                "login_throttle": state.throttle.status(),
            })
        })
    })
}
