//! Anti-social behaviour cases: `involve.asb.v1.AsbCases` (issue 10).
//!
//! Built on the service kit in the one shape of a service (`api` -> `service` ->
//! `domain`, `store`). So far: the domain's rules in plain Rust — the working-day
//! calendar, triage, the service standards computed from timestamps, and the
//! community trigger. The contract, store and routes follow.

pub mod domain;
