//! The auth service of case study 3: login, token validation, sessions — and the cascade the book tells.
//!
//! "Before: intermittent cascading failures in traffic spikes; p99 between 80 and 3000 ms; the downstream
//! email (verification) service, slow and sometimes down, caused timeouts; requests queued behind it
//! exhausted connection pools and failed *all* auth operations." The levers that cured it live in
//! [`levers`], one module each; the simulated provider is the `email-provider` crate.
//!
//! Three processes, started by the `shoplab` binary ([`cli`]):
//! - `shoplab auth serve` ([`startup`], [`routes`]): the HTTP API;
//! - `shoplab auth relay` ([`relay`]): outbox rows -> RabbitMQ, with publisher confirms;
//! - `shoplab auth email-worker` ([`worker`]): RabbitMQ -> provider, with retries, a DLQ and idempotency.

pub mod argon;
pub mod cli;
pub mod credentials;
pub mod domain;
pub mod email;
pub mod error;
pub mod levers;
pub mod login_throttle;
pub mod metrics;
pub mod openapi;
pub mod passwords;
pub mod relay;
pub mod routes;
pub mod secret;
pub mod settings;
mod settings_args;
pub mod startup;
pub mod state;
pub mod worker;

pub use settings::Settings;
pub use startup::{Application, build};
