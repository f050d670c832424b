//! Calling another service of the suite, the same way in every deployment:
//! in-process when all services share one process, over HTTP/2 to the peer's
//! instances (the principal signed for the one call, W3C trace context in the
//! headers) when they do not. The gateway's edge forwards partner calls through
//! the same [`ServiceChannel`].
//!
//! A service takes a client of a peer once, in its `add_routes`
//! (`context.client("profiles")?`), and binds it to a caller on each call:
//! [`ServiceClient::acting_for`] the person whose request it is serving (the
//! peer scopes and audits the call as theirs), or [`ServiceClient::as_service`]
//! for scheduled work, as the service's own [`ServiceIdentity`]. The bound
//! [`ActingClient`] is what tonic's generated clients take:
//!
//! ```ignore
//! let customers = CustomerProfilesClient::new(self.profiles.acting_for(&ctx.principal));
//! ```

mod channel;
mod directory;
mod http2_link;
pub mod routing;
pub mod upstream;

pub use channel::{InnerService, ServiceChannel, in_process, inject_trace_context};
pub use directory::{
    ActingClient, DirectoryError, ServiceClient, ServiceClients, ServiceDirectory, ServiceIdentity,
    UnknownService,
};
pub use upstream::{Upstream, UpstreamError};
