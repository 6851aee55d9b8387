//! The product service (case study 1): catalogue listing, detail, search and price updates, with the
//! five levers of the case study and the chapter levers of the catalogue as flags (see [`levers`]).
//!
//! - [`routes`]: the HTTP API;
//! - [`levers`]: eager loading, composite indexes, cache TTL, refresh-ahead, cache warming,
//!   compression, conditional requests, summary fields;
//! - [`levers`]: one module per flag (eager loading, composite indexes, cache TTL, refresh-ahead, cache
//!   warming, local cache, Redis multiplexing, keyset pagination, ...);
//! - [`read_path`]: the cache tiers in order and the loaders behind them (the one place levers are chained);
//! - [`cache`]: Redis key layout, the stored envelope, version-based invalidation;
//! - [`model`]: response types and validated input;
//! - [`metrics`]: the service's own metric families (response bytes, revalidations).

pub mod cache;
pub mod cli;
pub mod levers;
pub mod metrics;
pub mod model;
pub mod openapi;
pub mod read_path;
pub mod routes;
pub mod startup;
pub mod state;

pub use startup::Application;
