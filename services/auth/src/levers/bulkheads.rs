//! Lever `auth.bulkheads` (book chapter "Traffic Management"): separate connection pools for critical
//! and non-critical work.
//!
//! The book's case study: "requests queued behind [the email service] exhausted connection pools and
//! failed *all* auth operations"; the fix, "bulkheads: separate connection pools for critical (token
//! validation) and non-critical (profile updates) operations". Named after a ship's watertight
//! compartments: a leak in one does not sink the others.
//!
//! - before: one pool (`shared`, 10 by default) for everything. When signups hold connections while
//!   they wait on a slow provider, login and `/validate` queue behind them for a connection and time out.
//! - after: login, refresh and validate take from `critical` (6); signup, verify-email and profile from
//!   `noncritical` (4). Signups can still exhaust their own pool — they fail or slow down alone — while
//!   the critical path keeps its connections.
//!
//! Cost: the same budget of 10 connections split in two (6 + 4), so each compartment is smaller and a
//! burst of critical work queues sooner than it would with the whole shared pool at its disposal. All
//! three pools exist from the start so the flag flips instantly; that is a lab convenience, and it means
//! the process may hold up to 20 connections open while idle ones linger (Postgres has a budget: the
//! PostgreSQL wiki's rule of thumb is about cores x 2). The pool metrics
//! (`shoplab_db_pool_connections{pool}`) show which one is in use.

use std::time::Duration;

use kit::db::Db;
use kit::flags::Flags;
use kit::metrics::Metrics;
use sqlx::postgres::PgPoolOptions;

use crate::settings::Settings;

/// What a request does, for choosing its pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Login, refresh, validate: on the critical path of every other service.
    Critical,
    /// Signup, verify-email, profile: can wait or fail without taking the shop down.
    NonCritical,
}

/// The request pools.
#[derive(Clone)]
pub struct Pools {
    /// The single pool of the before state.
    pub shared: Db,
    /// The compartment of the critical path.
    pub critical: Db,
    /// The compartment of everything else.
    pub noncritical: Db,
}

impl Pools {
    /// Opens the three pools with the configured sizes and acquire timeout.
    pub async fn connect(url: &str, s: &Settings, metrics: &Metrics) -> anyhow::Result<Self> {
        Ok(Self {
            shared: pool(url, "shared", s.shared_pool, s.acquire_timeout, metrics).await?,
            critical: pool(url, "critical", s.critical_pool, s.acquire_timeout, metrics).await?,
            noncritical: pool(url, "noncritical", s.noncritical_pool, s.acquire_timeout, metrics).await?,
        })
    }

    /// The pool `work` uses right now.
    pub fn for_work(&self, flags: &Flags, work: Work) -> &Db {
        if flags.bool("auth.bulkheads") {
            // after: each kind of work in its own compartment
            match work {
                Work::Critical => &self.critical,
                Work::NonCritical => &self.noncritical,
            }
        } else {
            // before: everyone queues for the same connections
            &self.shared
        }
    }
}

/// A named pool of `max` connections whose waiters give up after `acquire_timeout`.
pub async fn pool(url: &str, name: &str, max: u32, acquire_timeout: Duration, metrics: &Metrics) -> anyhow::Result<Db> {
    let options = kit::db::connect_options(url).map_err(|e| kit::deps::postgres_error(url, &e))?;
    let pool = PgPoolOptions::new()
        .max_connections(max.max(1))
        .acquire_timeout(acquire_timeout)
        .connect_with(options)
        .await
        .map_err(|e| kit::deps::postgres_error(url, &e))?;
    Ok(Db::from_pool(pool, name, metrics))
}
