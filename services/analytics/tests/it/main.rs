//! The integration tests of `analytics`, one test binary (each module below was its own binary;
//! one binary links the dependency tree once). Each test gets its own database, Redis prefix and
//! RabbitMQ names through `kit::testing::TestEnv`, so they run in parallel.

mod aggregator_restart;
mod apply_failures;
mod coalescing;
mod ground_truth;
mod hardening;
mod openapi;
mod relay_faults;
mod support;
mod traces;
mod validation;
