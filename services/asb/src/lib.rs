//! Anti-social behaviour cases: `involve.asb.v1.AsbCases` (issue 10).
//!
//! Built on the service kit in the one shape of a service (`api` -> `service` ->
//! `domain`, `store`). So far: the domain's rules in plain Rust — the working-day
//! calendar, triage, the service standards computed from timestamps, and the
//! community trigger — and the store's first part, filing reports into cases.
//! The contract's routes follow.

pub mod domain;
pub mod store;

/// The service's database schema / SQLite file name.
pub const SERVICE_NAME: &str = "asb";
