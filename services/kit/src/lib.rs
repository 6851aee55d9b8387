//! `kit`: what every shoplab process shares.
//!
//! **What belongs here**: mechanisms any service could use unchanged — configuration, telemetry, clients,
//! the HTTP base routes and middleware, the outbox, the worker harness — and nothing that knows a
//! particular service. A service hands kit what is its own: the outbox table and what to count when a
//! row is published ([`outbox::Outbox`]), its metric families ([`metrics::Families`]), its queue names
//! and topology, its readiness checks. Kit never imports a service crate (`cargo tree -p kit` shows none).
//!
//! **The one exception** is the flag registry, `kit/src/flags/registry.rs`: it names every service's
//! levers, because the `shoplab` CLI (`flags list`, `lever`, `case`) and `/admin/flags` must know every
//! flag, its default and its chapter without importing the services, and every process must validate a
//! flag write against the same list.
//!
//! - [`config`]: typed settings from the environment, with local defaults;
//! - [`telemetry`]: JSON logs with trace ids and OTLP export to Tempo;
//! - [`metrics`]: the registry, the families every service has, and [`metrics::Families`] for the others;
//! - [`db`], [`redis`], [`amqp`]: clients whose every call is a span;
//! - [`flags`]: the levers, read from a lock-free snapshot kept current by LISTEN/NOTIFY;
//! - [`http`]: base routes (`/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/docs`, `/admin/flags`)
//!   and the request-observing middleware;
//! - [`error`], [`extract`]: one JSON error shape for every failure;
//! - [`outbox`](mod@outbox): the transactional outbox and its relay, for a table the service names;
//! - [`worker`]: the harness of every worker process (health routes, reconnect loop, drain on shutdown);
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
pub mod worker;

pub use config::Config;
pub use error::{ApiError, ApiResult};
