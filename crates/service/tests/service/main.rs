//! The use cases against a real PostgreSQL (`testkit::TestDb`), without HTTP:
//! one test binary, a module per use case, the fixture in `fixture.rs`.

mod api_keys;
mod approvals;
mod attest;
mod bans;
mod catalog;
mod chain_check;
mod decide;
mod decision_log;
mod fixture;
mod fresh_facts;
mod namespaces;
mod receipt_keys;
mod receipts;
mod route;
mod routing_rules;
mod telemetry;
mod tenant_policy;
mod tenants;
mod verify;
mod webhooks;
mod workers;
