//! The OpenAPI 3.1 document. `openapi/openapi.json` is this document, checked
//! in; regenerate it with
//! `cargo run --bin hall-registry -- openapi > openapi/openapi.json`.

use utoipa::OpenApi;

use crate::error::{ErrorBody, ErrorDetail};
use crate::routes::health;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Hall Registry",
        description = "A self-hostable, multi-tenant registry for WCP (Worker Class Protocol) governance. \
            Every error is `{\"error\": {\"code\", \"message\"}}`.",
        license(name = "Apache-2.0")
    ),
    paths(health::health, health::readyz, health::metrics),
    components(schemas(ErrorBody, ErrorDetail, health::HealthResponse, health::ReadyResponse)),
    tags((name = "health", description = "Liveness, readiness and metrics"))
)]
pub struct ApiDoc;

/// The document as served at `/openapi.json` and checked in.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Pretty JSON with a trailing newline, byte for byte the checked-in file.
pub fn document_json() -> Result<String, serde_json::Error> {
    let mut json = document().to_pretty_json()?;
    json.push('\n');
    Ok(json)
}
