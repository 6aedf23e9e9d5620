//! The WCP vocabulary: identifiers, enums, canonical JSON and deny codes.
//! Pure: no I/O. The WCP version this registry implements is pinned here.

pub mod id;

pub use id::{IdError, TenantId};

/// The WCP specification version this registry implements.
pub const SPEC_VERSION: &str = "0.2";
