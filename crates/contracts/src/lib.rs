//! Generated Rust for Involve's protobuf contracts.
//!
//! No logic lives here: only the generated messages, clients and servers, the
//! descriptor set that servers hand to gRPC reflection, and one message written by
//! hand ([`customer_page`]) so that a page of customers can be sent from encodings
//! the profiles service keeps.

/// Encoded `FileDescriptorSet` of every Involve proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("involve_descriptor");

// Generated code is not held to the workspace lints.
macro_rules! generated {
    ($(#[$meta:meta])* $name:ident, $package:literal $(, $extra:item)*) => {
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
            $($extra)*
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

pub mod customer_page;

// `involve::{package}::v1` for every package under `proto/involve`, found by build.rs.
include!(concat!(env!("OUT_DIR"), "/involve_packages.rs"));
