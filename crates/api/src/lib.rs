//! Hall Registry's HTTP layer: configuration, the actix-web server, the
//! handlers, the error shape, metrics and the OpenAPI document.

pub mod auth;
pub mod config;
pub mod error;
pub mod idempotency;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod receipt_keys;
pub mod routes;
pub mod runtime;
pub mod server;
pub mod session_secret;
pub mod state;

/// The server's version, reported by `/health` and `/metrics`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
