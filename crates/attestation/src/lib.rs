//! Canonical package hashes, capability cards, Ed25519 verification and the
//! rules that decide an attestation's status. Pure: no I/O.

pub mod card;
pub mod keys;
pub mod package;
pub mod rules;

pub use card::{CapabilityCard, CardError};
pub use keys::{KeyError, KeyProof, NamespacePublicKey, ProofError};
pub use rules::{AttestationPolicy, AttestationStatus, Verdict};
