//! The HTTP API's request and answer bodies, as one set of types for both
//! sides: the server serializes them (and, with the `openapi` feature,
//! documents them in `openapi/openapi.json`), `hallctl` deserializes the
//! answers through them instead of reading untyped JSON. A field renamed
//! here is renamed for both, and the OpenAPI test notices.
//!
//! Only shapes live here — no rules, no parsing into domain values (that is
//! the handler's job, `crates/api/src/routes`), no I/O.

pub mod api_keys;
pub mod approvals;
pub mod attestations;
pub mod audit;
pub mod auth;
pub mod banlist;
pub mod catalog;
pub mod decisions;
pub mod error;
pub mod health;
pub mod keys;
pub mod namespaces;
pub mod route;
pub mod routing;
pub mod tenants;
pub mod webhooks;
pub mod workers;

pub use error::{ErrorBody, ErrorDetail};
