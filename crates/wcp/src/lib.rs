//! The WCP vocabulary: identifiers, enums, canonical JSON and deny codes.
//! Pure: no I/O. The WCP version this registry implements is pinned here.

pub mod canonical;
pub mod catalog;
pub mod id;
pub mod page;
pub mod privilege;
pub mod record;
pub mod telemetry;
pub mod vocab;

pub use id::{
    CapabilityId, ControlId, IdError, Namespace, PolicyId, ProfileId, SpeciesId, TenantId, WorkerId,
};
pub use page::{PageLimit, PageLimitError, PageSize};
pub use privilege::{EgressDestination, PrivilegeEnvelope, PrivilegeError};
pub use record::{RecordError, WorkerRecord};
pub use vocab::{
    BlastRadius, DataLabel, Env, NetworkEgress, QosClass, RiskTier, Visibility, VocabError,
};

/// The WCP specification version this registry implements.
pub const SPEC_VERSION: &str = "0.2";
