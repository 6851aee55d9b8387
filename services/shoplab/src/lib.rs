//! The shoplab CLI as a library, so its commands are testable in-process.

pub mod bench_server;
pub mod calibrate;
pub mod cli;
pub mod compare;
pub mod console;
pub mod database;
pub mod doctor;
pub mod edge;
pub mod env_table;
pub mod flags;
pub mod health;
pub mod lab_secrets;
pub mod lever;
pub mod reset;
pub mod scrape;
pub mod seed;
pub mod signals;
pub mod stack;
pub mod top_queries;
pub mod up;
