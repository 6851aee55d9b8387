//! The four levers of case study 3 and auth's chapter levers, one module each, naive and fixed path side by side.
//!
//! | flag | module | chapter |
//! |---|---|---|
//! | `auth.email_circuit_breaker` | [`email_circuit_breaker`] | Traffic Management |
//! | `auth.async_email` | [`async_email`] | Asynchronous Processing |
//! | `auth.rate_limit` | [`rate_limit`] | Traffic Management |
//! | `auth.bulkheads` | [`bulkheads`] | Traffic Management |
//! | `auth.rate_limit_store` | [`rate_limit_store`] | Edge Infrastructure |
//! | `auth.local_token_validation` | [`local_token_validation`] | Authentication Performance |
//!
//! Each switch reads the flag snapshot (no I/O) in one visible `if`, on every request, so a flip takes
//! effect on the next request.

pub mod async_email;
pub mod bulkheads;
pub mod email_circuit_breaker;
pub mod local_token_validation;
pub mod rate_limit;
pub mod rate_limit_store;
