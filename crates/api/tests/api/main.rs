//! The API's integration tests: one binary, one module per area, sharing the
//! test server and client in `support`.
//!
//! `tests/server_process.rs` is a binary of its own: it makes its process a
//! child subreaper, which no other test may share.

mod support;

mod attestation;
mod audit_log;
mod auth;
mod ban_propagation;
mod decision_concurrency;
mod decisions;
mod deployment;
mod dispatches;
mod durability;
mod errors;
mod http_basics;
mod idempotency;
mod integrations;
mod metrics;
mod openapi_file;
mod operator_scope;
mod privilege;
mod receipt_keys;
mod route;
mod route_guards;
mod routing_rules;
mod telemetry;
mod tiers;
mod webhooks;
mod workers;
mod zero_config;
