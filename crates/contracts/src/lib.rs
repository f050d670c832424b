//! Generated Rust for Involve's protobuf contracts.
//!
//! No logic lives here: only the generated messages, clients and servers, and the
//! descriptor set that servers hand to gRPC reflection.

/// Encoded `FileDescriptorSet` of every Involve proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("involve_descriptor");

// Generated code is not held to the workspace lints.
macro_rules! generated {
    ($(#[$meta:meta])* $name:ident, $package:literal) => {
        $(#[$meta])*
        #[allow(
            unreachable_pub,
            missing_debug_implementations,
            rust_2018_idioms,
            clippy::all,
            clippy::pedantic,
            clippy::wildcard_enum_match_arm,
            clippy::large_futures
        )]
        pub mod $name {
            tonic::include_proto!($package);
        }
    };
}

/// Google's shared types, wire-compatible with the `googleapis` definitions.
pub mod google {
    generated!(
        /// `google.api`: field behaviour and resource annotations.
        api,
        "google.api"
    );
    generated!(
        /// `google.type`: calendar dates.
        r#type,
        "google.r#type"
    );
}

/// Involve's own packages.
pub mod involve {
    /// Messages shared by every service.
    pub mod common {
        generated!(
            /// `involve.common.v1`.
            v1,
            "involve.common.v1"
        );
    }
    /// Partner administration at the gateway.
    pub mod gateway {
        generated!(
            /// `involve.gateway.v1`.
            v1,
            "involve.gateway.v1"
        );
    }
    /// Cross-tenure customer profiles.
    pub mod profiles {
        generated!(
            /// `involve.profiles.v1`.
            v1,
            "involve.profiles.v1"
        );
    }
}
