//! Audit receipts: canonical serialization, hash chain, signing and offline
//! verification. Pure, so the CLI can verify exports offline.
