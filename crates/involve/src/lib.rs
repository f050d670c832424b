//! The Involve process: which services to run, on which listener, over which
//! database. `main.rs` parses the command line; tests and benchmarks build an
//! [`Application`] directly on port 0.

pub mod operations;
pub mod startup;

pub use startup::{Application, Mode, Service};
