//! The domain's shared vocabulary, used by every service and the gateway.
//!
//! Plain Rust with no gRPC, SQL or runtime dependencies: a service's `domain`
//! module can use all of it, and a value parsed here is valid everywhere.
//!
//! - [`OrganisationName`] (`organisations/{id}`) and [`OrganisationId`];
//! - [`Code`], a reference-data code;
//! - [`Role`], one table of roles and what each may do;
//! - [`FieldViolation`] with the [`Violations`] collector and the IOx-style
//!   [`Required`] helper, the one way a request is validated;
//! - [`Etag`], [`RequestId`], and [`uuid_resource_id!`] for typed resource names;
//! - [`disclosure`]: how counts about people are published, exact or protected;
//! - [`text`]: free text, trimmed, bounded and free of control characters.

mod code;
pub mod disclosure;
mod etag;
mod organisation;
mod request_id;
mod resource;
mod role;
pub mod text;
mod violation;

pub use code::Code;
pub use etag::{Etag, EtagParseError};
pub use organisation::{NotAnOrganisationName, OrganisationId, OrganisationName};
pub use request_id::RequestId;
pub use role::{Capability, Role};
pub use violation::{FieldViolation, Required, Violations};

#[doc(hidden)]
pub use uuid;
