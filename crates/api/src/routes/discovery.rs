//! WCP §5.6 capability discovery (`/wcp/capabilities`, `/wcp/workers`,
//! `/wcp/health`) and the imported catalog.

use actix_web::web;
use registry::Scope;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use wcp::catalog::{Catalog, EntityType};

pub use api_types::catalog::ImportResult;

use crate::auth::{MaybePrincipal, Principal};
use crate::error::{ApiError, ErrorBody};
use crate::routes::workers::WorkerView;
use crate::routes::{resource, JsonObject};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/wcp/capabilities", &["GET"]).route(web::get().to(capabilities)))
        .service(resource("/wcp/workers", &["GET"]).route(web::get().to(workers)))
        .service(resource("/api/workers", &["GET"]).route(web::get().to(contract_workers)))
        .service(resource("/wcp/health", &["GET"]).route(web::get().to(wcp_health)))
        .service(resource("/api/v1/catalog", &["GET"]).route(web::get().to(catalog)))
        .service(
            resource("/api/v1/catalog/import", &["POST"]).route(web::post().to(import_catalog)),
        );
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CapabilityView {
    #[schema(example = "cap.doc.summarize")]
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub risk_tier: Option<String>,
    /// Whether the imported WCP catalog defines it.
    pub in_catalog: bool,
    /// Active workers visible to you that declare it.
    pub workers: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CapabilityList {
    pub capabilities: Vec<CapabilityView>,
}

/// Every capability: those of the imported catalog merged with those
/// declared by workers you can see (public ones, and your tenant's).
#[utoipa::path(get, path = "/wcp/capabilities", tag = "wcp",
    responses((status = 200, body = CapabilityList)))]
pub async fn capabilities(
    caller: MaybePrincipal,
    state: web::Data<AppState>,
) -> Result<web::Json<CapabilityList>, ApiError> {
    let viewer = caller.0.as_ref().map(|p| &p.tenant_id);
    let capabilities = state.hall.capabilities(viewer).await?;
    Ok(web::Json(CapabilityList {
        capabilities: capabilities
            .into_iter()
            .map(|c| {
                let in_catalog = c.entry.is_some();
                let (name, description, risk_tier) = c
                    .entry
                    .map(|e| (e.name, e.description, e.risk_tier))
                    .unwrap_or_default();
                CapabilityView {
                    id: c.id,
                    name,
                    description,
                    risk_tier,
                    in_catalog,
                    workers: c.workers,
                }
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WcpWorkerList {
    pub workers: Vec<WorkerView>,
}

/// Your tenant's active workers (`read`).
#[utoipa::path(get, path = "/wcp/workers", tag = "wcp", security(("bearer" = [])),
    responses((status = 200, body = WcpWorkerList), (status = 401, body = ErrorBody),
        (status = 403, description = "The key lacks the `read` scope", body = ErrorBody)))]
pub async fn workers(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<web::Json<WcpWorkerList>, ApiError> {
    principal.require(Scope::Read)?;
    let workers = state.hall.active_workers(&principal.tenant_id).await?;
    Ok(web::Json(WcpWorkerList {
        workers: workers
            .into_iter()
            .map(crate::routes::workers::view)
            .collect(),
    }))
}

/// Your tenant's active workers (`read`), as `/wcp/workers` answers them:
/// the PyHall MCP server lists workers here (it reads `worker_id`,
/// `worker_species_id`, `capabilities` and `risk_tier`).
#[utoipa::path(get, path = "/api/workers", tag = "contract", security(("bearer" = [])),
    responses((status = 200, body = WcpWorkerList), (status = 401, body = ErrorBody),
        (status = 403, description = "The key lacks the `read` scope", body = ErrorBody)))]
pub async fn contract_workers(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<web::Json<WcpWorkerList>, ApiError> {
    workers(principal, state).await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Behaviour {
    #[schema(example = "capability_discovery")]
    pub behaviour: String,
    /// Where the WCP specification asks for it.
    #[schema(example = "§5.6")]
    pub spec: String,
    pub enforced: bool,
    pub detail: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WcpHealth {
    pub ok: bool,
    #[schema(example = "0.2")]
    pub wcp_version: String,
    pub registry_version: String,
    /// The highest WCP compliance level (§7) whose every requirement this
    /// server meets: `WCP-Basic`, `WCP-Standard` or `WCP-Full` (`none` if
    /// not even the first).
    #[schema(example = "WCP-Full")]
    pub compliance_level: String,
    /// Each requirement of the §7 levels, whether it is met and where it is
    /// enforced.
    pub compliance: Vec<Requirement>,
    /// Each WCP behaviour and whether this registry enforces it today.
    pub behaviours: Vec<Behaviour>,
}

/// One requirement of a WCP compliance level (§7).
#[derive(Debug, Serialize, ToSchema)]
pub struct Requirement {
    /// The level that adds it: `WCP-Basic`, `WCP-Standard` or `WCP-Full`.
    #[schema(example = "WCP-Standard")]
    pub level: String,
    #[schema(example = "controls_enforcement")]
    pub requirement: String,
    /// Where the WCP specification asks for it.
    #[schema(example = "§5.3")]
    pub spec: String,
    pub met: bool,
    /// Where this server enforces it: the endpoint and the rule.
    pub enforced_in: String,
}

/// The §7 levels, lowest first; each adds to the one before.
const LEVELS: [&str; 3] = ["WCP-Basic", "WCP-Standard", "WCP-Full"];

/// (level, requirement, spec section, met, where): what this build does.
const REQUIREMENTS: &[(&str, &str, &str, bool, &str)] = &[
    ("WCP-Basic", "capability_routing", "§2.6, §4", true,
     "POST /api/v1/route and POST /api/route: the tenant's routing rules (PyHall rules JSON), first match wins (crates/routing, RuleSet::first_match)"),
    ("WCP-Basic", "fail_closed", "§5.1", true,
     "no rules, no matching rule or no candidate passing the governance chain denies (DENY_NO_MATCHING_RULE, DENY_NO_AVAILABLE_WORKER); an unknown ban status denies"),
    ("WCP-Basic", "deterministic", "§5.2", true,
     "rules are immutable numbered versions recorded in every receipt; golden snapshots (POST /api/v1/routing/rules/test) can gate a new version; same state and input, same decision"),
    ("WCP-Standard", "controls_enforcement", "§5.3", true,
     "the rule's required controls and the candidate's minimum must be in the selected worker's currently_implements, else DENY_MISSING_REQUIRED_CONTROLS (crates/routing, route::missing_controls)"),
    ("WCP-Standard", "mandatory_telemetry", "§5.4", true,
     "evt.os.task.routed, evt.os.worker.selected and evt.os.policy.gated with the correlation id in every dispatch decision, stored and served by GET /api/v1/telemetry/events"),
    ("WCP-Standard", "dry_run", "§5.5", true,
     "dry_run: true makes the full decision and its receipt (dry_run recorded) and consumes no approval"),
    ("WCP-Full", "blast_radius", "§6", true,
     "the selected worker's five-dimension score plus the chain's earlier score against the tenant's per-env threshold: a human in prod/edge, DENY_BLAST_RADIUS_EXCEEDED elsewhere"),
    ("WCP-Full", "privilege_envelopes", "§7", true,
     "the selected worker's privilege envelope against the tenant's per-env egress allowlist for RESTRICTED data in prod/edge, else DENY_PRIVILEGE_ENVELOPE_VIOLATED (crates/policy, privilege::check)"),
    ("WCP-Full", "policy_gate", "§5.8", true,
     "escalation.policy_gate runs the tenant's tier policy; REQUIRE_HUMAN opens an approval (/wcp/approvals) that must be approved before the same request passes"),
    ("WCP-Full", "evidence_receipts", "§5.7", true,
     "every decision, allow or deny, gets an Ed25519-signed, hash-chained receipt committed before the answer, with the rules version that decided it"),
    ("WCP-Full", "discovery_api", "§5.6", true, "/wcp/capabilities, /wcp/workers and /wcp/health"),
    ("WCP-Full", "signatory_tenant_validation", "§5.9", true,
     "a key routes for its own tenant only; candidates are the tenant's workers and those of tenants that list it as a signatory"),
    ("WCP-Full", "worker_code_attestation", "§5.10", true,
     "candidates pass the attestation the effective tier asks for; signed capability cards verify with an active key of the worker's namespace; banned hashes deny"),
];

/// The highest level whose requirements, and those of every level below, are all met.
fn compliance_level(requirements: &[(&str, &str, &str, bool, &str)]) -> &'static str {
    let mut met = "none";
    for level in LEVELS {
        if requirements.iter().filter(|r| r.0 == level).all(|r| r.3) {
            met = level;
        } else {
            break;
        }
    }
    met
}

/// (behaviour, spec section, enforced, detail): what this build does.
const BEHAVIOURS: &[(&str, &str, bool, &str)] = &[
    ("identifier_grammar", "§3.2", true,
     "every WCP id is checked against the grammar; malformed ids are refused with the rule named"),
    ("protocol_namespaces_reserved", "§3.1", true,
     "cap, wrk, ctrl, pol, prof and evt can never be claimed"),
    ("authority_namespace_ownership", "§3.1", true,
     "only the tenant holding x.<name> or org.<name> registers workers under it"),
    ("trust_from_worker_id", "identity model", true,
     "a worker's authority namespace comes from its worker_id only, never from species or capability"),
    ("enrollment_artifact_hash", "enrollment", true,
     "a registry record whose artifact_hash does not match is refused with DENY_WORKER_TAMPERED"),
    ("capability_discovery", "§5.6", true,
     "/wcp/capabilities, /wcp/workers and /wcp/health"),
    ("fail_closed_decisions", "§5.1", true,
     "a decision stops at the first failed check; an unknown ban status denies"),
    ("deterministic_routing", "§5.2", true,
     "the same registry state and request give the same outcome (policy document hall-default-policy/1)"),
    ("dry_run", "§5.5", true, "dry_run decisions are decided and receipted like any other"),
    ("evidence_receipts", "§5.7", true,
     "every decision gets a signed, hash-chained receipt committed before the answer"),
    ("signatory_tenant_validation", "§5.9", true,
     "from L1, the requesting tenant must own the worker or be one of the owner's signatories"),
    ("worker_code_attestation", "§5.10", true,
     "package hashes are attested; signed capability cards must verify with an active key of the worker's own namespace"),
    ("ban_list", "§5.10", true,
     "confirmed bans deny attestations of the hash and mark workers banned in verify at once"),
];

/// The WCP compliance level this server meets (§7), each requirement and
/// where it is enforced, and which WCP behaviours it enforces. Public.
#[utoipa::path(get, path = "/wcp/health", tag = "wcp", responses((status = 200, body = WcpHealth)))]
pub async fn wcp_health() -> web::Json<WcpHealth> {
    web::Json(WcpHealth {
        ok: true,
        wcp_version: wcp::SPEC_VERSION.to_string(),
        registry_version: crate::VERSION.to_string(),
        compliance_level: compliance_level(REQUIREMENTS).to_string(),
        compliance: REQUIREMENTS
            .iter()
            .map(|(level, requirement, spec, met, enforced_in)| Requirement {
                level: level.to_string(),
                requirement: requirement.to_string(),
                spec: spec.to_string(),
                met: *met,
                enforced_in: enforced_in.to_string(),
            })
            .collect(),
        behaviours: BEHAVIOURS
            .iter()
            .map(|(b, spec, enforced, detail)| Behaviour {
                behaviour: b.to_string(),
                spec: spec.to_string(),
                enforced: *enforced,
                detail: detail.to_string(),
            })
            .collect(),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogQuery {
    /// `capability` (default), `worker_species`, `control`, `profile`, `policy`.
    #[serde(rename = "type")]
    pub entity_type: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogEntityView {
    pub id: String,
    #[serde(rename = "type")]
    pub entity_type: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub risk_tier: Option<String>,
    /// The entity as imported.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogList {
    pub entities: Vec<CatalogEntityView>,
}

/// The imported catalog's entities of one type (public).
#[utoipa::path(get, path = "/api/v1/catalog", tag = "wcp", params(CatalogQuery),
    responses((status = 200, body = CatalogList), (status = 400, body = ErrorBody)))]
pub async fn catalog(
    state: web::Data<AppState>,
    query: web::Query<CatalogQuery>,
) -> Result<web::Json<CatalogList>, ApiError> {
    let entity_type = match query.entity_type.as_deref() {
        None => EntityType::CAPABILITY,
        Some(t) => EntityType::parse(t)
            .map_err(|e| ApiError::bad_request("invalid_query", format!("type {e}")))?,
    };
    let entities = state.hall.catalog(entity_type).await?;
    Ok(web::Json(CatalogList {
        entities: entities
            .into_iter()
            .map(|e| CatalogEntityView {
                id: e.id,
                entity_type: e.entity_type,
                name: e.name,
                description: e.description,
                risk_tier: e.risk_tier,
                data: e.data,
            })
            .collect(),
    }))
}

/// Import a WCP catalog file (operator only): every entity is added or
/// replaced, all or nothing. The body is the catalog
/// (`{"_meta": {...}, "entities": [...]}`); raise HALL_MAX_BODY_BYTES for very large ones.
#[utoipa::path(post, path = "/api/v1/catalog/import", tag = "wcp", request_body(content = Object),
    security(("bearer" = [])),
    responses((status = 200, body = ImportResult), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn import_catalog(
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonObject,
) -> Result<web::Json<ImportResult>, ApiError> {
    principal.require_operator()?;
    let catalog = Catalog::parse(&body)
        .map_err(|e| ApiError::bad_request("invalid_catalog", e.to_string()))?;
    let summary = state.hall.import_catalog(&catalog).await?;
    Ok(web::Json(ImportResult {
        inserted: summary.inserted,
        updated: summary.updated,
        catalog_version: catalog.version,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_requirement_met_is_wcp_full() {
        assert_eq!(compliance_level(REQUIREMENTS), "WCP-Full");
        for level in LEVELS {
            assert!(
                REQUIREMENTS.iter().any(|r| r.0 == level),
                "{level} has no requirement"
            );
        }
    }

    #[test]
    fn one_unmet_requirement_caps_the_level_below_it() {
        let mut reqs = REQUIREMENTS.to_vec();
        let i = reqs
            .iter()
            .position(|r| r.1 == "controls_enforcement")
            .unwrap();
        reqs[i].3 = false;
        assert_eq!(compliance_level(&reqs), "WCP-Basic");
        reqs[0].3 = false;
        assert_eq!(compliance_level(&reqs), "none");
    }
}
