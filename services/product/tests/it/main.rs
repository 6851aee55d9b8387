//! The integration tests of `product`, one test binary (each module below was its own binary;
//! one binary links the dependency tree once). Each test gets its own database, Redis prefix and
//! RabbitMQ names through `kit::testing::TestEnv`, so they run in parallel.

mod api;
mod cache_levers;
mod common;
mod data_levers;
mod database_levers;
mod network_levers;
mod openapi;
mod traces;
mod traffic_levers;
