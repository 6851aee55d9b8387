//! The simulated email provider of case study 3: `POST /send` (202 + message id) and `GET /messages`,
//! with latency, error and outage knobs driven by the `emailprovider.*` flags.
//!
//! It stands in for the "downstream email (verification) service, slow and sometimes down" of the book's
//! authentication case study, and it is the only shoplab process allowed to be slow on purpose.

pub mod cli;
pub mod faults;
pub mod inventory;
pub mod openapi;
pub mod routes;
pub mod serve;
pub mod startup;
pub mod store;

pub use startup::{Application, build};
