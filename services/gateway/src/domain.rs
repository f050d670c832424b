//! The gateway's rules in plain Rust: credential secrets and their states, rate
//! limits, and which roles may call which services.

pub mod credentials;
pub mod policy;
pub mod rate_limit;
pub mod records;
