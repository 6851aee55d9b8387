//! `kit`: what every shoplab process shares.
//!
//! - [`config`]: typed settings from the environment, with local defaults;
//! - [`telemetry`]: JSON logs with trace ids and OTLP export to Tempo;
//! - [`metrics`]: the Prometheus families of the observability contract;
//! - [`db`], [`redis`], [`amqp`]: clients whose every call is a span;
//! - [`flags`]: the levers, read from a lock-free snapshot kept current by LISTEN/NOTIFY;
//! - [`http`]: base routes (`/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/docs`, `/admin/flags`)
//!   and the request-observing middleware;
//! - [`error`], [`extract`]: one JSON error shape for every failure;
//! - [`outbox`]: the transactional outbox and its relay;
//! - [`health`]: readiness probes that cost no pool connection and no broker connection;
//! - [`supervise`]: processes started by `shoplab up` stop with it, even when it is killed;
//! - `testing` (feature `test-support`): an isolated database, key prefix and queue names per test.

pub mod amqp;
pub mod app;
pub mod config;
pub mod db;
pub mod deps;
pub mod error;
pub mod extract;
pub mod flags;
pub mod health;
pub mod http;
pub mod metrics;
pub mod migrate;
pub mod openmetrics;
pub mod outbox;
pub mod propagation;
pub mod redis;
pub mod supervise;
pub mod telemetry;
#[cfg(feature = "test-support")]
pub mod testing;

pub use config::Config;
pub use error::{ApiError, ApiResult};
