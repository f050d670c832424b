//! What every Involve service shares at run time: configuration, telemetry, the
//! server bootstrap (health, reflection, limits, graceful shutdown), the caller's
//! principal, the client services call each other with, and the one mapping
//! from errors to `tonic::Status`.

pub mod body;
pub mod client;
pub mod clock;
pub mod config;
pub mod db_telemetry;
pub mod error;
pub mod module;
pub mod overload;
pub mod principal;
pub mod prometheus;
pub mod purpose;
pub mod roles;
pub mod rpc;
pub mod server;
pub mod shutdown;
pub mod signals;
pub mod telemetry;
pub mod wire;

pub use config::Settings;
pub use error::{ApiError, FieldViolation, ServiceError};
pub use module::{Registry, ServiceContext, ServiceModule};
pub use principal::{HandoffKey, Principal, PrincipalSource, RequestContext, Role};
