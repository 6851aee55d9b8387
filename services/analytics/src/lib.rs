//! The analytics service of case study 2: batch ingest and dashboards over an event stream.
//!
//! Three processes (`shoplab analytics serve | relay | aggregator`, see [`cli`]):
//!
//! ```text
//! POST /events -> analytics.events + analytics.outbox (one transaction)
//!                        |
//!                 relay  +-> RabbitMQ (exchange analytics.events) -> aggregator -> Redis buckets
//!                                                                                     |
//! GET /dashboards/overview?window=  <- SQL over raw events (before) | Redis buckets (after)
//! ```
//!
//! The levers live in [`levers`], one module each with the naive and the optimized path side by side.

pub mod aggregator;
pub mod backfill;
pub mod buckets;
pub mod cli;
pub mod dashboard;
pub mod ingest;
pub mod levers;
pub mod metrics;
pub mod openapi;
pub mod redis_conn;
pub mod relay;
pub mod routes;
pub mod startup;
pub mod state;
pub mod topology;
pub mod window;

pub use startup::Application;
