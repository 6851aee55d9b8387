//! The integration tests of `shoplab`, one test binary (each module below was its own binary;
//! one binary links the dependency tree once). Each test gets its own database, Redis prefix and
//! RabbitMQ names through `kit::testing::TestEnv`, so they run in parallel.

mod cli;
mod compare;
mod console;
mod console_openapi;
mod edge;
mod flags;
mod reseed;
mod startup_jobs;
mod telemetry;
mod top_queries;
mod up;
