//! Etags derived from a row's version counter (AIP-154): defined in the core
//! crate, re-exported here beside the compare-and-set writes that bump them.

pub use involve_core::{Etag, EtagParseError};
