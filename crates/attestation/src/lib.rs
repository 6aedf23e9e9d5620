//! Canonical package hashes, capability cards and Ed25519 verification. Pure.

pub mod keys;

pub use keys::{KeyError, NamespacePublicKey};
