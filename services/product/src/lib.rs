//! The product service (case study 1): catalogue listing, detail, search and price updates, with the
//! five levers of the case study as flags (see [`levers`]).
//!
//! - [`routes`]: the HTTP API;
//! - [`levers`]: eager loading, composite indexes, cache TTL, refresh-ahead, cache warming,
//!   compression, conditional requests, summary fields;
//! - [`cache`]: Redis key layout, the stored envelope, version-based invalidation;
//! - [`model`]: response types and validated input;
//! - [`metrics`]: the service's own metric families (response bytes, revalidations).

pub mod cache;
pub mod cli;
pub mod levers;
pub mod metrics;
pub mod model;
pub mod openapi;
pub mod routes;
pub mod startup;
pub mod state;

pub use startup::Application;
