//! The suite as its users drive it: real servers on loopback, real gRPC, SQLite
//! and PostgreSQL. One test binary, one module per capability.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod asb;
mod asb_cli;
mod asb_quality;
mod asb_reference;
mod availability;
mod backup;
mod customers;
mod distributed;
mod erasure;
mod gateway;
mod import;
mod paging;
mod platform;
mod profile_map;
mod reference_data;
mod scale_out;
mod scoping;
mod secret_rotation;
mod service_client;
mod telemetry;
mod tls;
mod validation;
