//! The rules of ASB casework in plain Rust: nothing here knows about gRPC or SQL.

pub mod access;
pub mod analysis;
pub mod calendar;
pub mod case;
pub mod casework;
pub mod queue;
pub mod review;
pub mod standards;
pub mod triage;
pub mod trigger;
