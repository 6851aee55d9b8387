//! The integration tests of `auth`, one test binary (each module below was its own binary;
//! one binary links the dependency tree once). Each test gets its own database, Redis prefix and
//! RabbitMQ names through `kit::testing::TestEnv`, so they run in parallel.

mod access_levers;
mod breaker;
mod cascade;
mod common;
mod dead_letter;
mod delivery;
mod email_levers;
mod flood;
mod input;
mod migration;
mod openapi;
mod rate_limit;
mod sessions;
mod worker_readiness;
