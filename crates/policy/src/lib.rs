//! The decision engine: policy tiers L0–L8, controls, blast radius and
//! approvals. Pure and deterministic: facts in, decision out.
