//! The tenant's policy: what it asks of attestations of its workers and of
//! decisions on them. The use case is `service::tenant_policy`.

use std::collections::BTreeMap;

use actix_web::web;
use attestation::AttestationPolicy;
use registry::approvals::{ApprovalTtl, SupervisorLevel};
use registry::Scope;
use serde::{Deserialize, Serialize};
use service::tenant_policy::{PolicyError, SetTenantPolicy, TenantPolicies};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{resource, JsonBody};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/v1/policy", &["GET", "PUT"])
            .route(web::get().to(get_policy))
            .route(web::put().to(put_policy)),
    );
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
    pub tier_floors: BTreeMap<String, Tier>,
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
    /// The data label of a decision request that names none (default
    /// `RESTRICTED`: an omitted label never widens access). `PUBLIC`,
    /// `INTERNAL` or `RESTRICTED` in any case (`CONFIDENTIAL` is read as
    /// `RESTRICTED`); the policy shows it in capitals.
    #[schema(example = "RESTRICTED", value_type = Option<api_types::decisions::DataLabelName>)]
    pub default_data_label: Option<String>,
    /// Destinations your workers may declare egress to (their privilege
    /// envelope's `egress.allowlist`), per env, e.g. `{"prod":
    /// ["api.example.com", "db.internal:5432"]}`: host names or host:port,
    /// in any case (shown lowercase, sorted, each once), at most 100 per
    /// env. In prod and edge with RESTRICTED data a worker declaring a
    /// destination not listed for the env is denied
    /// (`DENY_PRIVILEGE_ENVELOPE_VIOLATED`); no list for an env allows no
    /// declared egress there. Keys are envs as `tier_floors` takes them.
    #[serde(default)]
    #[schema(value_type = Object,
        example = json!({"prod": ["api.example.com", "db.internal:5432"]}))]
    pub egress_allowlist: BTreeMap<String, Vec<String>>,
    /// How long a human has to answer one of your approvals (a decision's
    /// REQUIRE_HUMAN), and how long an approved one stays usable: 60 to
    /// 604800 seconds (1 minute to 7 days), default 3600. New approvals
    /// take it; open ones keep their deadline. A pending approval past it
    /// is `expired` and announced (`approval.expired`).
    #[schema(example = 3600)]
    pub approval_ttl_seconds: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyView {
    pub attestation: Option<AttestationPolicyView>,
    pub decisions: Option<DecisionPolicyView>,
}

impl From<TenantPolicies> for PolicyView {
    fn from(p: TenantPolicies) -> Self {
        let (a, d) = (p.attestation, p.decisions);
        PolicyView {
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
                default_data_label: Some(d.default_data_label.to_string()),
                egress_allowlist: d
                    .egress_allowlist
                    .iter()
                    .map(|(e, dests)| {
                        (e.to_string(), dests.iter().map(|d| d.to_string()).collect())
                    })
                    .collect(),
                approval_ttl_seconds: Some(u64::from(d.approval_ttl.seconds())),
            }),
        }
    }
}

impl DecisionPolicyView {
    /// The decision policy it gives, every field checked.
    fn parse(self) -> Result<policy::TenantPolicy, ApiError> {
        let bad = |msg: String| ApiError::bad_request("invalid_field", msg);
        let mut floors = BTreeMap::new();
        for (given, Tier(tier)) in self.tier_floors {
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
        let signatories = self
            .signatories
            .iter()
            .enumerate()
            .map(|(i, t)| {
                wcp::TenantId::parse(t)
                    .map_err(|e| bad(e.field(format!("decisions.signatories[{i}]")).to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if self.attestation_max_age_days == Some(0) {
            return Err(bad(
                "decisions.attestation_max_age_days must be at least 1".into()
            ));
        }
        let l7 = self.l7_supervisor_level.as_deref();
        let l7_advisory = match l7.map(|l| (l, SupervisorLevel::from_name(l))) {
            None | Some((_, Some(SupervisorLevel::Gatekeeper))) => false,
            Some((_, Some(SupervisorLevel::Advisory))) => true,
            Some((other, _)) => {
                return Err(bad(format!(
                    "decisions.l7_supervisor_level {other:?} is not one of gatekeeper or advisory"
                )))
            }
        };
        let default_data_label = match self.default_data_label.as_deref() {
            None => wcp::DataLabel::Restricted,
            Some(l) => wcp::DataLabel::parse(l)
                .map_err(|e| bad(e.field("decisions.default_data_label").to_string()))?,
        };
        let mut egress_allowlist = BTreeMap::new();
        for (given, dests) in self.egress_allowlist {
            let field = "decisions.egress_allowlist";
            let env = wcp::Env::parse(&given).map_err(|e| bad(e.field(field).to_string()))?;
            if dests.len() > policy::privilege::MAX_ALLOWLIST_PER_ENV {
                return Err(bad(format!(
                    "{field}.{env} has {} destinations; at most {} are allowed per env",
                    dests.len(),
                    policy::privilege::MAX_ALLOWLIST_PER_ENV
                )));
            }
            let mut parsed = dests
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    wcp::EgressDestination::parse(d)
                        .map_err(|e| bad(e.field(format!("{field}.{given}[{i}]")).message))
                })
                .collect::<Result<Vec<_>, _>>()?;
            parsed.sort();
            parsed.dedup();
            if egress_allowlist.insert(env, parsed).is_some() {
                return Err(bad(format!(
                    "{field} gives {env} twice (an alias such as {given:?} counts as {env})"
                )));
            }
        }
        let approval_ttl = match self.approval_ttl_seconds {
            None => ApprovalTtl::DEFAULT,
            Some(s) => ApprovalTtl::from_seconds(s)
                .map_err(|e| bad(format!("decisions.approval_ttl_seconds {e}")))?,
        };
        Ok(policy::TenantPolicy {
            floors,
            signatories,
            attestation_max_age_days: self.attestation_max_age_days,
            l7_advisory,
            default_data_label,
            egress_allowlist,
            approval_ttl,
        })
    }
}

/// The tenant's policy (`read`).
#[utoipa::path(get, path = "/api/v1/policy", tag = "policy", security(("bearer" = [])),
    responses((status = 200, body = PolicyView), (status = 401, body = ErrorBody)))]
pub async fn get_policy(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<web::Json<PolicyView>, ApiError> {
    principal.require(Scope::Read)?;
    let policies = state.hall.tenant_policy(&principal.tenant_id).await?;
    Ok(web::Json(policies.into()))
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
    // Both parts are checked before either is written.
    let command = SetTenantPolicy {
        tenant: principal.tenant_id.clone(),
        decisions: body.decisions.map(DecisionPolicyView::parse).transpose()?,
        attestation: body.attestation.map(|a| AttestationPolicy {
            require_signature: a.require_signature,
            require_approval: a.require_approval,
        }),
    };
    let policies = state
        .hall
        .set_tenant_policy(command)
        .await
        .map_err(|e| match e {
            PolicyError::Invalid(msg) => ApiError::bad_request("invalid_field", msg),
            PolicyError::Store(e) => e.into(),
        })?;
    Ok(web::Json(policies.into()))
}
