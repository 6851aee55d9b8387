//! The integration tests of `email-provider`, one test binary (each module below was its own binary;
//! one binary links the dependency tree once). Each test gets its own database, Redis prefix and
//! RabbitMQ names through `kit::testing::TestEnv`, so they run in parallel.

mod openapi;
mod provider;
