//! Attestations (WCP §5.10): unsigned hash attestations (the SDK contract's
//! `PUT …/attest`), signed capability cards, the worker's attestation status,
//! operator approval, and the tenant's attestation policy.

use actix_web::web;
use attestation::package::is_sha256_hex;
use attestation::{AttestationPolicy, AttestationStatus, CapabilityCard};
use chrono::{DateTime, Utc};
use registry::approvals::SupervisorLevel;
use registry::attestations::{Attestation, NewAttestation};
use registry::Scope;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::workers::worker_ref;
use crate::routes::{resource, text_field, JsonBody};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/v1/workers/{id}/attest", &["PUT"]).route(web::put().to(attest_hash)),
    )
    .service(
        resource("/api/v1/workers/{id}/attestations", &["POST"]).route(web::post().to(attest_card)),
    )
    .service(
        resource("/api/v1/workers/{id}/attestation", &["GET"])
            .route(web::get().to(attestation_status)),
    )
    .service(
        resource("/api/v1/attestations/{attestation_id}/approve", &["POST"])
            .route(web::post().to(approve)),
    )
    .service(
        resource("/api/v1/policy", &["GET", "PUT"])
            .route(web::get().to(get_policy))
            .route(web::put().to(put_policy)),
    );
}

/// Where a package came from, as the SDKs report it with an attestation.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Provenance {
    pub label: Option<String>,
    #[serde(default)]
    pub ai_generated: bool,
    pub ai_service: Option<String>,
    pub ai_model: Option<String>,
    pub ai_session_id: Option<String>,
}

/// The provenance fields of an attestation body, read with the body's own
/// fields (not `#[serde(flatten)]`, so a malformed one is named in errors).
macro_rules! with_provenance {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            pub label: Option<String>,
            #[serde(default)]
            pub ai_generated: bool,
            pub ai_service: Option<String>,
            pub ai_model: Option<String>,
            pub ai_session_id: Option<String>,
        }

        impl $name {
            fn provenance(&self) -> Provenance {
                Provenance {
                    label: self.label.clone(),
                    ai_generated: self.ai_generated,
                    ai_service: self.ai_service.clone(),
                    ai_model: self.ai_model.clone(),
                    ai_session_id: self.ai_session_id.clone(),
                }
            }
        }
    };
}

with_provenance! {
    #[derive(Debug, Deserialize, ToSchema)]
    pub struct AttestHash {
        /// The worker's canonical package hash: 64 lowercase hex characters.
        #[schema(example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")]
        pub sha256: String,
    }
}

with_provenance! {
    #[derive(Debug, Deserialize, ToSchema)]
    pub struct AttestCard {
        /// The capability card: `worker_id`, `worker_species_id`?, `capabilities`,
        /// `sha256`, `issued_at`, `expires_at`?, `kid`.
        #[schema(value_type = Object)]
        pub card: serde_json::Value,
        /// Ed25519 signature over the card's canonical bytes (base64 or hex).
        pub signature: String,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttestationView {
    #[schema(example = "att_0193a1b2c3d4e5f60718293a4b5c6d7e")]
    pub id: String,
    pub worker_id: String,
    pub sha256: String,
    /// `attested`, `pending` or `denied`.
    pub status: String,
    /// Why it is pending or denied.
    pub reason: Option<String>,
    /// `hash` (unsigned) or `card` (signed capability card).
    pub kind: String,
    /// The `kid` of the namespace key that signed the card.
    pub signed_by: Option<String>,
    /// When it was accepted, if it is attested.
    pub attested_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub label: Option<String>,
    pub ai_generated: bool,
    pub ai_service: Option<String>,
    pub ai_model: Option<String>,
}

impl From<Attestation> for AttestationView {
    fn from(a: Attestation) -> Self {
        let attested = a.verdict.status == AttestationStatus::Attested;
        Self {
            id: a.id,
            worker_id: a.worker_id,
            sha256: a.sha256,
            status: a.verdict.status.as_str().to_string(),
            reason: a.verdict.reason,
            kind: a.kind.as_str().to_string(),
            signed_by: a.signed_by,
            attested_at: attested.then_some(a.approved_at.unwrap_or(a.created_at)),
            created_at: a.created_at,
            label: a.label,
            ai_generated: a.ai_generated,
            ai_service: a.ai_service,
            ai_model: a.ai_model,
        }
    }
}

/// What the seed SDK's `hall.workers.attest()` reads.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttestationStatusView {
    pub worker_id: String,
    /// `attested`, `pending`, `denied` or `none`.
    pub status: String,
    /// SHA-256 of the attested package (of the latest attestation).
    pub artifact_hash: Option<String>,
    pub attested_at: Option<DateTime<Utc>>,
    pub signed_by: Option<String>,
    pub reason: Option<String>,
}

/// A short, non-reversible fingerprint of an AI session id (verify shows this, never the id).
pub fn session_fingerprint(session_id: &str) -> String {
    Sha256::digest(session_id.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn optional_text(
    field: &str,
    value: &Option<String>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    value
        .as_deref()
        .map(|v| text_field(field, v, max))
        .transpose()
}

/// Checks the provenance fields and records the attestation.
async fn record(
    principal: &Principal,
    state: &AppState,
    path: &str,
    sha256: String,
    card: Option<(CapabilityCard, String)>,
    p: Provenance,
) -> Result<AttestationView, ApiError> {
    let id = worker_ref(path)?;
    let new = NewAttestation {
        sha256,
        card,
        label: optional_text("label", &p.label, 200)?,
        ai_generated: p.ai_generated,
        ai_service: optional_text("ai_service", &p.ai_service, 200)?,
        ai_model: optional_text("ai_model", &p.ai_model, 200)?,
        ai_session_id: optional_text("ai_session_id", &p.ai_session_id, 500)?,
    };
    let a = state
        .store
        .tenant(&principal.tenant_id)
        .attest(&id, new, &state.bans)
        .await?;
    Ok(a.into())
}

/// Attest a worker's package hash (`workers:write`), as the 0.3.0 SDKs do.
#[utoipa::path(put, path = "/api/v1/workers/{id}/attest", tag = "contract",
    params(("id" = String, Path, description = "`wrk_…` or the WCP worker id")),
    request_body = AttestHash, security(("bearer" = [])),
    responses((status = 200, body = AttestationView),
        (status = 400, description = "sha256 is not 64 lowercase hex", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "Worker revoked", body = ErrorBody)))]
pub async fn attest_hash(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonBody<AttestHash>,
) -> Result<web::Json<AttestationView>, ApiError> {
    principal.require(Scope::WorkersWrite)?;
    let body = body.into_inner();
    let provenance = body.provenance();
    if !is_sha256_hex(&body.sha256) {
        return Err(ApiError::bad_request(
            "invalid_sha256",
            "sha256 must be 64 lowercase hex characters",
        ));
    }
    let view = record(&principal, &state, &path, body.sha256, None, provenance).await?;
    Ok(web::Json(view))
}

/// Submit a signed capability card (`workers:write`). The signature must
/// verify with an active key of the worker's own namespace, and the card must
/// match the worker. Well-formed cards are recorded even when denied.
#[utoipa::path(post, path = "/api/v1/workers/{id}/attestations", tag = "workers",
    params(("id" = String, Path)), request_body = AttestCard, security(("bearer" = [])),
    responses((status = 201, body = AttestationView),
        (status = 400, description = "Malformed card or signature", body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn attest_card(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonBody<AttestCard>,
) -> Result<actix_web::HttpResponse, ApiError> {
    principal.require(Scope::WorkersWrite)?;
    let body = body.into_inner();
    let provenance = body.provenance();
    let card = CapabilityCard::parse(&body.card)
        .map_err(|e| ApiError::bad_request("invalid_card", e.to_string()))?;
    let sha256 = card.sha256.clone();
    let view = record(
        &principal,
        &state,
        &path,
        sha256,
        Some((card, body.signature)),
        provenance,
    )
    .await?;
    Ok(actix_web::HttpResponse::Created().json(view))
}

/// A worker's attestation status (`read`): that of its latest attestation,
/// judged against today's ban list and keys.
#[utoipa::path(get, path = "/api/v1/workers/{id}/attestation", tag = "workers",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = AttestationStatusView), (status = 404, body = ErrorBody)))]
pub async fn attestation_status(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<AttestationStatusView>, ApiError> {
    principal.require(Scope::Read)?;
    let id = worker_ref(&path)?;
    let store = state.store.tenant(&principal.tenant_id);
    let worker = store
        .worker(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("worker {id} not found")))?;
    let latest = store.latest_attestation(&id, &state.bans).await?;
    Ok(web::Json(match latest {
        None => AttestationStatusView {
            worker_id: worker.record.worker_id.to_string(),
            status: "none".into(),
            artifact_hash: None,
            attested_at: None,
            signed_by: None,
            reason: Some("no attestation has been submitted".into()),
        },
        Some(a) => {
            let view = AttestationView::from(a);
            AttestationStatusView {
                worker_id: view.worker_id,
                status: view.status,
                artifact_hash: Some(view.sha256),
                attested_at: view.attested_at,
                signed_by: view.signed_by,
                reason: view.reason,
            }
        }
    }))
}

/// Approve a pending attestation (operator only).
#[utoipa::path(post, path = "/api/v1/attestations/{attestation_id}/approve", tag = "workers",
    params(("attestation_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = AttestationView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "Not pending", body = ErrorBody)))]
pub async fn approve(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<AttestationView>, ApiError> {
    principal.require_operator()?;
    let a = state.store.approve_attestation(&path, &state.bans).await?;
    Ok(web::Json(a.into()))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttestationPolicyView {
    /// Unsigned hash attestations stay `pending`; only signed cards attest.
    pub require_signature: bool,
    /// Every attestation stays `pending` until the operator approves it.
    pub require_approval: bool,
}

/// A policy tier, 0 (L0) to 8 (L8): refused as one when it is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Tier(pub u8);

impl<'de> Deserialize<'de> for Tier {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let tier = serde_json::Value::deserialize(d)?;
        tier.as_u64()
            .and_then(|t| u8::try_from(t).ok())
            .filter(|t| *t <= wcp::record::MAX_POLICY_TIER)
            .map(Tier)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "must be a tier from 0 to {}",
                    wcp::record::MAX_POLICY_TIER
                ))
            })
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionPolicyView {
    /// Minimum policy tier per env, e.g. `{"prod": 4}`; a decision runs at
    /// max(worker tier, floor). Keys are envs as decisions take them
    /// (`staging` is `stage`); the policy shows the canonical names.
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"prod": 4}))]
    pub tier_floors: std::collections::BTreeMap<String, Tier>,
    /// Tenants whose decision requests on your workers you accept (WCP §5.9).
    #[serde(default)]
    pub signatories: Vec<String>,
    /// Attestations older than this deny at L8 (default: the policy document's 90).
    pub attestation_max_age_days: Option<u32>,
    /// L7's REQUIRE_HUMAN on your workers: `gatekeeper` (default: denied
    /// until a human approves) or `advisory` (allowed; a human is notified
    /// through an approval to review). L8 is always gatekeeper.
    #[schema(example = "gatekeeper")]
    pub l7_supervisor_level: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyView {
    pub attestation: Option<AttestationPolicyView>,
    pub decisions: Option<DecisionPolicyView>,
}

async fn policy_view(state: &AppState, tenant: &wcp::TenantId) -> Result<PolicyView, ApiError> {
    let a = state.store.tenant(tenant).attestation_policy().await?;
    let d = state.store.decision_policy(tenant).await?;
    Ok(PolicyView {
        attestation: Some(AttestationPolicyView {
            require_signature: a.require_signature,
            require_approval: a.require_approval,
        }),
        decisions: Some(DecisionPolicyView {
            tier_floors: d
                .floors
                .iter()
                .map(|(e, t)| (e.to_string(), Tier(*t)))
                .collect(),
            signatories: d.signatories.iter().map(|t| t.to_string()).collect(),
            attestation_max_age_days: d.attestation_max_age_days,
            l7_supervisor_level: Some(SupervisorLevel::l7(d.l7_advisory).as_str().into()),
        }),
    })
}

/// The tenant's policy (`read`).
#[utoipa::path(get, path = "/api/v1/policy", tag = "policy", security(("bearer" = [])),
    responses((status = 200, body = PolicyView), (status = 401, body = ErrorBody)))]
pub async fn get_policy(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<web::Json<PolicyView>, ApiError> {
    principal.require(Scope::Read)?;
    Ok(web::Json(policy_view(&state, &principal.tenant_id).await?))
}

/// Replace the tenant's policy (`admin`).
#[utoipa::path(put, path = "/api/v1/policy", tag = "policy", request_body = PolicyView,
    security(("bearer" = [])),
    responses((status = 200, body = PolicyView), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn put_policy(
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonBody<PolicyView>,
) -> Result<web::Json<PolicyView>, ApiError> {
    principal.require(Scope::Admin)?;
    let body = body.into_inner();
    let store = state.store.tenant(&principal.tenant_id);
    // Both parts are checked before either is written.
    let decisions = match body.decisions {
        None => None,
        Some(d) => {
            let bad = |msg: String| ApiError::bad_request("invalid_field", msg);
            let mut floors = std::collections::BTreeMap::new();
            for (given, Tier(tier)) in d.tier_floors {
                // The env parser of decisions and workers: aliases count.
                let env = wcp::Env::parse(&given)
                    .map_err(|e| bad(e.field("decisions.tier_floors").to_string()))?;
                if floors.insert(env, tier).is_some() {
                    return Err(bad(format!(
                        "decisions.tier_floors gives {env} twice (an alias such as {given:?} \
                         counts as {env})"
                    )));
                }
            }
            let signatories = d
                .signatories
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    wcp::TenantId::parse(t).map_err(|e| {
                        bad(e.field(format!("decisions.signatories[{i}]")).to_string())
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if d.attestation_max_age_days == Some(0) {
                return Err(bad(
                    "decisions.attestation_max_age_days must be at least 1".into()
                ));
            }
            let l7 = d.l7_supervisor_level.as_deref();
            let l7_advisory = match l7.map(|l| (l, SupervisorLevel::from_name(l))) {
                None | Some((_, Some(SupervisorLevel::Gatekeeper))) => false,
                Some((_, Some(SupervisorLevel::Advisory))) => true,
                Some((other, _)) => {
                    return Err(bad(format!(
                        "decisions.l7_supervisor_level {other:?} is not one of gatekeeper or \
                         advisory"
                    )))
                }
            };
            Some(policy::TenantPolicy {
                floors,
                signatories,
                attestation_max_age_days: d.attestation_max_age_days,
                l7_advisory,
            })
        }
    };
    if let Some(a) = body.attestation {
        store
            .set_attestation_policy(AttestationPolicy {
                require_signature: a.require_signature,
                require_approval: a.require_approval,
            })
            .await?;
    }
    if let Some(d) = decisions {
        store.set_decision_policy(&d).await?;
    }
    Ok(web::Json(policy_view(&state, &principal.tenant_id).await?))
}
