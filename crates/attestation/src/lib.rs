//! Canonical package hashes, capability cards and Ed25519 verification. Pure.
