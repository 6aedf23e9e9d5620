//! The decision engine: policy tiers L0–L8 over a snapshot of facts. Pure
//! and deterministic — the same facts always give the same decision.
//!
//! The tier table is data: a versioned policy document
//! (`policies/default-v1.json`, shipped with the server) naming the checks
//! each tier adds. A decision at effective tier N — max(the worker's
//! `policy_tier`, the tenant's floor for the env) — runs the checks of tiers
//! 0..=N in the order of the governance chain (registration, ban list,
//! attestation, policy) and stops at the first failure.

pub mod approvals;
pub mod ban_review;
pub mod namespaces;
pub mod privilege;
pub mod visibility;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use wcp::{CapabilityId, ControlId, DataLabel, EgressDestination, Env, TenantId};

/// The shipped default policy document.
pub const DEFAULT_POLICY: &str = include_str!("../policies/default-v1.json");

/// Stable deny codes (WCP codes and ours).
pub mod deny {
    pub const UNKNOWN_WORKER: &str = "DENY_UNKNOWN_WORKER";
    pub const WORKER_REVOKED: &str = "DENY_WORKER_REVOKED";
    pub const UNKNOWN_TENANT: &str = "DENY_UNKNOWN_TENANT";
    pub const HASH_BANNED: &str = "DENY_HASH_BANNED";
    pub const BAN_STATUS_UNKNOWN: &str = "DENY_BAN_STATUS_UNKNOWN";
    pub const NOT_ATTESTED: &str = "DENY_NOT_ATTESTED";
    pub const ATTESTATION_UNSIGNED: &str = "DENY_ATTESTATION_UNSIGNED";
    pub const ATTESTATION_STALE: &str = "DENY_ATTESTATION_STALE";
    pub const CAPABILITY_NOT_DECLARED: &str = "DENY_CAPABILITY_NOT_DECLARED";
    pub const ENV_NOT_ALLOWED: &str = "DENY_ENV_NOT_ALLOWED";
    pub const DATA_LABEL_EXCEEDS_CLEARANCE: &str = "DENY_DATA_LABEL_EXCEEDS_CLEARANCE";
    pub const MISSING_REQUIRED_CONTROLS: &str = "DENY_MISSING_REQUIRED_CONTROLS";
    pub const BLAST_RADIUS_EXCEEDED: &str = "DENY_BLAST_RADIUS_EXCEEDED";
    pub const REQUIRES_HUMAN_APPROVAL: &str = "DENY_REQUIRES_HUMAN_APPROVAL";
    /// The worker's privilege envelope is not allowed for the env and data
    /// label (WCP-Full, §7; pyhall's spelling). See [`crate::privilege`].
    pub const PRIVILEGE_ENVELOPE_VIOLATED: &str = "DENY_PRIVILEGE_ENVELOPE_VIOLATED";
}

/// One check of the tier table. Declared in the governance chain's order
/// (registration, ban list, attestation, policy): `Ord` follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Registered,
    NotRevoked,
    SignatoryTenant,
    HashNotBanned,
    AttestedInProduction,
    AttestedEverywhere,
    AttestationSigned,
    AttestationFresh,
    CapabilityDeclared,
    EnvAllowed,
    DataLabelWithinClearance,
    RequiredControlsPresent,
    BlastWithinThreshold,
    HumanForRestrictedOrExcessBlastInProd,
    HumanForEveryProd,
}

#[derive(Debug, Clone, Deserialize)]
struct TierDoc {
    tier: u8,
    name: String,
    checks: Vec<Check>,
}

#[derive(Debug, Clone, Deserialize)]
struct PolicyDoc {
    version: String,
    tiers: Vec<TierDoc>,
    blast_thresholds: BTreeMap<String, u8>,
    attestation_max_age_days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("policy document is not valid: {0}")]
    Invalid(String),
}

/// A parsed, checked policy document.
#[derive(Debug, Clone)]
pub struct PolicyDocument {
    pub version: String,
    names: Vec<String>,
    /// Checks in force at each tier (cumulative), in chain order.
    checks_at: Vec<Vec<Check>>,
    blast_thresholds: BTreeMap<Env, u8>,
    pub attestation_max_age_days: u32,
}

impl PolicyDocument {
    pub fn parse(json: &str) -> Result<Self, PolicyError> {
        let doc: PolicyDoc =
            serde_json::from_str(json).map_err(|e| PolicyError::Invalid(e.to_string()))?;
        if doc.tiers.len() != 9
            || doc
                .tiers
                .iter()
                .enumerate()
                .any(|(i, t)| t.tier as usize != i)
        {
            return Err(PolicyError::Invalid(
                "tiers must be exactly 0 to 8, in order".into(),
            ));
        }
        let mut acc = BTreeSet::new();
        let mut checks_at = Vec::new();
        for t in &doc.tiers {
            acc.extend(t.checks.iter().copied());
            // A BTreeSet iterates in `Check`'s order, which is the chain's.
            checks_at.push(acc.iter().copied().collect());
        }
        let mut blast_thresholds = BTreeMap::new();
        for env in Env::ALL {
            let t = doc
                .blast_thresholds
                .get(env.as_str())
                .ok_or_else(|| PolicyError::Invalid(format!("blast_thresholds has no {env}")))?;
            blast_thresholds.insert(*env, *t);
        }
        Ok(Self {
            version: doc.version,
            names: doc.tiers.into_iter().map(|t| t.name).collect(),
            checks_at,
            blast_thresholds,
            attestation_max_age_days: doc.attestation_max_age_days,
        })
    }

    /// The shipped default.
    pub fn default_policy() -> Self {
        Self::parse(DEFAULT_POLICY)
            .unwrap_or_else(|e| panic!("the shipped policy document is broken: {e}"))
    }

    pub fn tier_name(&self, tier: u8) -> &str {
        self.names
            .get(tier as usize)
            .map(String::as_str)
            .unwrap_or("unknown")
    }

    pub fn checks_at(&self, tier: u8) -> &[Check] {
        &self.checks_at[tier.min(8) as usize]
    }

    pub fn blast_threshold(&self, env: Env) -> u8 {
        self.blast_thresholds.get(&env).copied().unwrap_or(0)
    }

    /// Whether over-threshold blast in production is a human's to approve at
    /// `tier` rather than a deny: exactly where the table puts the check
    /// that asks the human ([`Check::HumanForRestrictedOrExcessBlastInProd`])
    /// in force, so a blast is never let through unchecked.
    pub fn escalates_prod_blast(&self, tier: u8) -> bool {
        self.checks_at(tier)
            .contains(&Check::HumanForRestrictedOrExcessBlastInProd)
    }
}

/// What the ban list says about the worker's current hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BanFact {
    Clear,
    Banned(String),
    /// The ban status could not be established: fail closed.
    Unknown,
}

/// The worker's attestation in force, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationFact {
    /// Signed capability card (vs. an unsigned hash).
    pub signed: bool,
    pub accepted_at: DateTime<Utc>,
}

/// The worker as registered.
#[derive(Debug, Clone)]
pub struct WorkerFact {
    pub owner: TenantId,
    pub revoked: bool,
    pub policy_tier: u8,
    pub capabilities: Vec<CapabilityId>,
    pub allowed_environments: Vec<Env>,
    pub max_data_label: DataLabel,
    pub required_controls: Vec<ControlId>,
    pub currently_implements: Vec<ControlId>,
    pub blast_score: Option<u8>,
}

/// The requesting tenant's policy.
#[derive(Debug, Clone)]
pub struct TenantPolicy {
    /// Minimum tier per env.
    pub floors: BTreeMap<Env, u8>,
    /// Tenants (besides the owner) whose requests the owner accepts (WCP §5.9).
    pub signatories: Vec<TenantId>,
    /// Overrides the document's attestation age limit.
    pub attestation_max_age_days: Option<u32>,
    /// L7's REQUIRE_HUMAN is advisory (a human is notified, the call
    /// proceeds) instead of gatekeeper (a human must approve first). L8's
    /// is always gatekeeper.
    pub l7_advisory: bool,
    /// The data label of a decision request that names none. `RESTRICTED`
    /// unless the tenant sets another: an omitted label never widens access.
    pub default_data_label: DataLabel,
    /// Destinations a worker may declare egress to, per env, where the
    /// privilege rule checks them (prod and edge, RESTRICTED data; see
    /// [`privilege`]). No list for an env: no declared egress is allowed.
    pub egress_allowlist: BTreeMap<Env, Vec<EgressDestination>>,
    /// How long the tenant's approvals wait for a human (and stay usable
    /// once approved).
    pub approval_ttl: approvals::ApprovalTtl,
}

impl Default for TenantPolicy {
    fn default() -> Self {
        TenantPolicy {
            floors: BTreeMap::new(),
            signatories: Vec::new(),
            attestation_max_age_days: None,
            l7_advisory: false,
            default_data_label: DataLabel::Restricted,
            egress_allowlist: BTreeMap::new(),
            approval_ttl: approvals::ApprovalTtl::DEFAULT,
        }
    }
}

/// A decision request.
#[derive(Debug, Clone)]
pub struct Request {
    pub capability: CapabilityId,
    pub env: Env,
    pub data_label: DataLabel,
    pub tenant: TenantId,
}

/// Every fact a decision needs, gathered before deciding.
#[derive(Debug, Clone)]
pub struct Facts {
    pub request: Request,
    pub worker: Option<WorkerFact>,
    pub ban: BanFact,
    pub attestation: Option<AttestationFact>,
    /// The worker owner's policy (floors, signatories).
    pub owner_policy: TenantPolicy,
    /// A human approved exactly this request (WCP §5.8): an approved,
    /// unexpired, unused approval for this tenant, worker, capability, env
    /// and data label. Satisfies the REQUIRE_HUMAN checks, nothing else.
    pub human_approval: bool,
    pub now: DateTime<Utc>,
}

/// Denied exactly when it carries a deny code ([`Decision::denied`]), so
/// a denial without a code, or a code on an allow, cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub deny_code: Option<&'static str>,
    pub deny_reason: Option<String>,
    /// Effective tier.
    pub tier: u8,
    /// Required controls verified present (L6+).
    pub controls_verified: Vec<String>,
    /// The checks that ran and passed, in order.
    pub checks_passed: Vec<Check>,
    /// An advisory REQUIRE_HUMAN fired: allowed, but a human is to be told.
    pub advisory_human: bool,
}

impl Decision {
    /// Denied: it carries a deny code.
    pub fn denied(&self) -> bool {
        self.deny_code.is_some()
    }
}

/// Decides. Deterministic in `facts`.
pub fn decide(policy: &PolicyDocument, facts: &Facts) -> Decision {
    let req = &facts.request;
    let floor = facts
        .owner_policy
        .floors
        .get(&req.env)
        .copied()
        .unwrap_or(0);
    let tier = facts
        .worker
        .as_ref()
        .map(|w| w.policy_tier)
        .unwrap_or(0)
        .max(floor)
        .min(8);
    let mut passed = Vec::new();
    let mut controls_verified = Vec::new();
    let deny = |code: &'static str, reason: String, passed: Vec<Check>| Decision {
        deny_code: Some(code),
        deny_reason: Some(reason),
        tier,
        controls_verified: Vec::new(),
        checks_passed: passed,
        advisory_human: false,
    };
    let mut advisory_human = false;
    let Some(w) = facts.worker.as_ref() else {
        return deny(
            deny::UNKNOWN_WORKER,
            "the worker is not registered".into(),
            passed,
        );
    };
    let max_age_days = facts
        .owner_policy
        .attestation_max_age_days
        .unwrap_or(policy.attestation_max_age_days);
    for check in policy.checks_at(tier) {
        let failure: Option<(&'static str, String)> = match check {
            Check::Registered => None,
            Check::NotRevoked => w
                .revoked
                .then(|| (deny::WORKER_REVOKED, "the worker is revoked".to_string())),
            Check::SignatoryTenant => (req.tenant != w.owner
                && !facts.owner_policy.signatories.contains(&req.tenant))
            .then(|| {
                (
                    deny::UNKNOWN_TENANT,
                    format!(
                        "tenant {} is neither the worker's owner nor one of its signatories",
                        req.tenant
                    ),
                )
            }),
            Check::HashNotBanned => match &facts.ban {
                BanFact::Clear => None,
                BanFact::Banned(reason) => Some((
                    deny::HASH_BANNED,
                    format!("the worker's package hash is banned: {reason}"),
                )),
                BanFact::Unknown => Some((
                    deny::BAN_STATUS_UNKNOWN,
                    "the ban status cannot be established right now; failing closed".into(),
                )),
            },
            Check::AttestedInProduction => (req.env.is_production() && facts.attestation.is_none())
                .then(|| {
                    (
                        deny::NOT_ATTESTED,
                        format!("{} needs a current attestation at tier L{tier}", req.env),
                    )
                }),
            Check::AttestedEverywhere => facts.attestation.is_none().then(|| {
                (
                    deny::NOT_ATTESTED,
                    format!("tier L{tier} needs a current attestation"),
                )
            }),
            Check::AttestationSigned => match &facts.attestation {
                Some(a) if a.signed => None,
                Some(_) => Some((
                    deny::ATTESTATION_UNSIGNED,
                    format!("tier L{tier} needs an attestation signed by an active namespace key"),
                )),
                None => Some((
                    deny::NOT_ATTESTED,
                    format!("tier L{tier} needs a current attestation"),
                )),
            },
            Check::AttestationFresh => match &facts.attestation {
                Some(a)
                    if facts.now - a.accepted_at <= chrono::Duration::days(max_age_days.into()) =>
                {
                    None
                }
                Some(_) => Some((
                    deny::ATTESTATION_STALE,
                    format!("the attestation is older than {max_age_days} days"),
                )),
                None => Some((
                    deny::NOT_ATTESTED,
                    format!("tier L{tier} needs a current attestation"),
                )),
            },
            Check::CapabilityDeclared => (!w.capabilities.contains(&req.capability)).then(|| {
                (
                    deny::CAPABILITY_NOT_DECLARED,
                    format!("the worker does not declare {}", req.capability),
                )
            }),
            Check::EnvAllowed => (!w.allowed_environments.contains(&req.env)).then(|| {
                (
                    deny::ENV_NOT_ALLOWED,
                    format!("the worker is not allowed in {}", req.env),
                )
            }),
            Check::DataLabelWithinClearance => (req.data_label > w.max_data_label).then(|| {
                (
                    deny::DATA_LABEL_EXCEEDS_CLEARANCE,
                    format!(
                        "{} data exceeds the worker's clearance ({})",
                        req.data_label, w.max_data_label
                    ),
                )
            }),
            Check::RequiredControlsPresent => {
                let missing: Vec<&str> = w
                    .required_controls
                    .iter()
                    .filter(|c| !w.currently_implements.contains(c))
                    .map(|c| c.as_str())
                    .collect();
                if missing.is_empty() {
                    controls_verified = w.required_controls.iter().map(|c| c.to_string()).collect();
                    None
                } else {
                    Some((
                        deny::MISSING_REQUIRED_CONTROLS,
                        format!("required controls not implemented: {}", missing.join(", ")),
                    ))
                }
            }
            Check::BlastWithinThreshold => {
                let score = w.blast_score.unwrap_or(0);
                let limit = policy.blast_threshold(req.env);
                let escalated = req.env.is_production() && policy.escalates_prod_blast(tier);
                (score > limit && !escalated).then(|| {
                    (
                        deny::BLAST_RADIUS_EXCEEDED,
                        format!(
                            "blast score {score} exceeds the {} threshold {limit}",
                            req.env
                        ),
                    )
                })
            }
            Check::HumanForRestrictedOrExcessBlastInProd => {
                let score = w.blast_score.unwrap_or(0);
                let over = score > policy.blast_threshold(req.env);
                let needs_human = !facts.human_approval
                    && (req.data_label == DataLabel::Restricted
                        || (req.env.is_production() && over));
                if needs_human && facts.owner_policy.l7_advisory {
                    advisory_human = true;
                    None
                } else {
                    needs_human.then(|| {
                        (deny::REQUIRES_HUMAN_APPROVAL, "REQUIRE_HUMAN: restricted data or over-threshold blast in production needs human approval".to_string())
                    })
                }
            }
            Check::HumanForEveryProd => {
                (req.env.is_production() && !facts.human_approval).then(|| {
                    (
                        deny::REQUIRES_HUMAN_APPROVAL,
                        format!(
                            "REQUIRE_HUMAN: every {} invocation at L8 needs human approval",
                            req.env
                        ),
                    )
                })
            }
        };
        if let Some((code, reason)) = failure {
            return deny(code, reason, passed);
        }
        passed.push(*check);
    }
    Decision {
        deny_code: None,
        deny_reason: None,
        tier,
        controls_verified,
        checks_passed: passed,
        advisory_human,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// A worker that passes every check of every tier in dev.
    fn facts(tier: u8, env: Env) -> Facts {
        Facts {
            request: Request {
                capability: CapabilityId::parse("cap.data.read.v1").unwrap(),
                env,
                data_label: DataLabel::Public,
                tenant: t("org.acme"),
            },
            worker: Some(WorkerFact {
                owner: t("org.acme"),
                revoked: false,
                policy_tier: tier,
                capabilities: vec![CapabilityId::parse("cap.data.read.v1").unwrap()],
                allowed_environments: Env::ALL.to_vec(),
                max_data_label: DataLabel::Internal,
                required_controls: vec![ControlId::parse("ctrl.obs.audit-log").unwrap()],
                currently_implements: vec![ControlId::parse("ctrl.obs.audit-log").unwrap()],
                blast_score: Some(3),
            }),
            ban: BanFact::Clear,
            attestation: Some(AttestationFact {
                signed: true,
                accepted_at: now() - chrono::Duration::days(1),
            }),
            owner_policy: TenantPolicy::default(),
            human_approval: false,
            now: now(),
        }
    }

    fn code(f: &Facts) -> Option<&'static str> {
        decide(&PolicyDocument::default_policy(), f).deny_code
    }

    #[test]
    fn the_shipped_document_parses_and_is_cumulative() {
        let p = PolicyDocument::default_policy();
        assert_eq!(p.version, "hall-default-policy/1");
        assert_eq!(p.tier_name(5), "signed");
        for tier in 1..=8u8 {
            let below = p.checks_at(tier - 1);
            assert!(
                below.iter().all(|c| p.checks_at(tier).contains(c)),
                "L{tier} drops a check"
            );
            assert!(
                p.checks_at(tier).len() > below.len(),
                "L{tier} adds nothing"
            );
        }
        assert!(PolicyDocument::parse(
            r#"{"version":"x","tiers":[],"blast_thresholds":{},"attestation_max_age_days":1}"#
        )
        .is_err());
    }

    #[test]
    fn l0_allows_a_registered_worker_and_denies_unknown_revoked_banned_or_undeclared() {
        assert_eq!(code(&facts(0, Env::Dev)), None);
        let mut f = facts(0, Env::Dev);
        f.worker = None;
        assert_eq!(code(&f), Some(deny::UNKNOWN_WORKER));
        let mut f = facts(0, Env::Dev);
        f.worker.as_mut().unwrap().revoked = true;
        assert_eq!(code(&f), Some(deny::WORKER_REVOKED));
        let mut f = facts(0, Env::Dev);
        f.ban = BanFact::Banned("malware".into());
        assert_eq!(code(&f), Some(deny::HASH_BANNED));
        f.ban = BanFact::Unknown;
        assert_eq!(code(&f), Some(deny::BAN_STATUS_UNKNOWN));
        let mut f = facts(0, Env::Dev);
        f.request.capability = CapabilityId::parse("cap.other.x").unwrap();
        assert_eq!(code(&f), Some(deny::CAPABILITY_NOT_DECLARED));
        // L0 does not yet check the tenant or the env.
        let mut f = facts(0, Env::Dev);
        f.request.tenant = t("org.stranger");
        f.worker.as_mut().unwrap().allowed_environments = vec![Env::Prod];
        assert_eq!(code(&f), None);
    }

    #[test]
    fn l1_checks_signatory_tenant_and_env() {
        let mut f = facts(1, Env::Dev);
        f.request.tenant = t("org.stranger");
        assert_eq!(code(&f), Some(deny::UNKNOWN_TENANT));
        f.owner_policy.signatories = vec![t("org.stranger")];
        assert_eq!(code(&f), None);
        let mut f = facts(1, Env::Stage);
        f.worker.as_mut().unwrap().allowed_environments = vec![Env::Dev];
        assert_eq!(code(&f), Some(deny::ENV_NOT_ALLOWED));
    }

    #[test]
    fn l2_checks_the_data_label_against_clearance() {
        let mut f = facts(2, Env::Dev);
        f.request.data_label = DataLabel::Internal;
        assert_eq!(code(&f), None);
        f.request.data_label = DataLabel::Restricted;
        assert_eq!(code(&f), Some(deny::DATA_LABEL_EXCEEDS_CLEARANCE));
    }

    #[test]
    fn l3_needs_attestation_in_prod_only_and_l4_everywhere() {
        let mut f = facts(3, Env::Dev);
        f.attestation = None;
        assert_eq!(code(&f), None);
        f.request.env = Env::Edge;
        assert_eq!(code(&f), Some(deny::NOT_ATTESTED));
        let mut f = facts(4, Env::Dev);
        assert_eq!(code(&f), None);
        f.attestation = None;
        assert_eq!(code(&f), Some(deny::NOT_ATTESTED));
    }

    #[test]
    fn l5_needs_a_signed_attestation() {
        let mut f = facts(5, Env::Dev);
        assert_eq!(code(&f), None);
        f.attestation.as_mut().unwrap().signed = false;
        assert_eq!(code(&f), Some(deny::ATTESTATION_UNSIGNED));
    }

    #[test]
    fn l6_checks_controls_and_blast() {
        let f = facts(6, Env::Dev);
        let d = decide(&PolicyDocument::default_policy(), &f);
        assert!(!d.denied());
        assert_eq!(d.controls_verified, vec!["ctrl.obs.audit-log"]);
        let mut f = facts(6, Env::Dev);
        f.worker.as_mut().unwrap().currently_implements.clear();
        assert_eq!(code(&f), Some(deny::MISSING_REQUIRED_CONTROLS));
        let mut f = facts(6, Env::Stage);
        f.worker.as_mut().unwrap().blast_score = Some(16);
        assert_eq!(code(&f), Some(deny::BLAST_RADIUS_EXCEEDED));
    }

    #[test]
    fn l7_escalates_restricted_data_and_excess_blast_in_prod() {
        let mut f = facts(7, Env::Dev);
        assert_eq!(code(&f), None);
        f.worker.as_mut().unwrap().max_data_label = DataLabel::Restricted;
        f.request.data_label = DataLabel::Restricted;
        assert_eq!(code(&f), Some(deny::REQUIRES_HUMAN_APPROVAL));
        let mut f = facts(7, Env::Prod);
        assert_eq!(code(&f), None);
        f.worker.as_mut().unwrap().blast_score = Some(11);
        assert_eq!(code(&f), Some(deny::REQUIRES_HUMAN_APPROVAL));
    }

    #[test]
    fn prod_blast_escalates_where_the_table_asks_a_human_for_it() {
        let p = PolicyDocument::default_policy();
        let escalating: Vec<u8> = (0..=8).filter(|t| p.escalates_prod_blast(*t)).collect();
        assert_eq!(escalating, vec![7, 8], "the shipped table: from L7 up");

        // The same table with the human check moved down to L6.
        let doc: serde_json::Value = serde_json::from_str(DEFAULT_POLICY).unwrap();
        let with_checks = |at: &[(usize, &[&str])]| {
            let mut d = doc.clone();
            for (tier, checks) in at {
                d["tiers"][*tier]["checks"] = serde_json::json!(checks);
            }
            PolicyDocument::parse(&d.to_string()).unwrap()
        };
        let early = with_checks(&[
            (
                6,
                &[
                    "required_controls_present",
                    "blast_within_threshold",
                    "human_for_restricted_or_excess_blast_in_prod",
                ],
            ),
            (7, &["attestation_fresh"]),
        ]);
        assert!(!early.escalates_prod_blast(5));
        assert!(early.escalates_prod_blast(6));
        let mut f = facts(6, Env::Prod);
        f.worker.as_mut().unwrap().blast_score = Some(11);
        assert_eq!(
            decide(&early, &f).deny_code,
            Some(deny::REQUIRES_HUMAN_APPROVAL)
        );
        assert_eq!(code(&f), Some(deny::BLAST_RADIUS_EXCEEDED), "shipped L6");

        // A table that never asks a human for blast never lets it through.
        let never = with_checks(&[(7, &["attestation_fresh"]), (8, &["human_for_every_prod"])]);
        assert!((0..=8).all(|t| !never.escalates_prod_blast(t)));
        let mut f = facts(8, Env::Prod);
        f.worker.as_mut().unwrap().blast_score = Some(11);
        f.human_approval = true;
        assert_eq!(
            decide(&never, &f).deny_code,
            Some(deny::BLAST_RADIUS_EXCEEDED)
        );
    }

    #[test]
    fn l8_escalates_every_prod_call_and_needs_a_fresh_attestation() {
        let mut f = facts(8, Env::Dev);
        assert_eq!(code(&f), None);
        f.attestation.as_mut().unwrap().accepted_at = now() - chrono::Duration::days(91);
        assert_eq!(code(&f), Some(deny::ATTESTATION_STALE));
        f.owner_policy.attestation_max_age_days = Some(365);
        assert_eq!(code(&f), None);
        assert_eq!(
            code(&facts(8, Env::Prod)),
            Some(deny::REQUIRES_HUMAN_APPROVAL)
        );
    }

    #[test]
    fn advisory_l7_allows_and_asks_for_a_human_while_l8_still_gates() {
        let mut f = facts(7, Env::Prod);
        f.worker.as_mut().unwrap().max_data_label = DataLabel::Restricted;
        f.request.data_label = DataLabel::Restricted;
        f.owner_policy.l7_advisory = true;
        let d = decide(&PolicyDocument::default_policy(), &f);
        assert_eq!((d.denied(), d.advisory_human), (false, true));
        // Nothing to tell a human about when nothing escalates.
        f.request.data_label = DataLabel::Public;
        assert!(!decide(&PolicyDocument::default_policy(), &f).advisory_human);
        let mut f = facts(8, Env::Prod);
        f.owner_policy.l7_advisory = true;
        assert_eq!(code(&f), Some(deny::REQUIRES_HUMAN_APPROVAL));
    }

    #[test]
    fn a_human_approval_satisfies_require_human_and_nothing_else() {
        let mut f = facts(8, Env::Prod);
        f.human_approval = true;
        assert_eq!(code(&f), None);
        let mut f = facts(7, Env::Prod);
        f.worker.as_mut().unwrap().max_data_label = DataLabel::Restricted;
        f.request.data_label = DataLabel::Restricted;
        f.human_approval = true;
        assert_eq!(code(&f), None);
        // An approval does not stand in for an attestation, a control or a clearance.
        let mut f = facts(8, Env::Prod);
        f.human_approval = true;
        f.attestation = None;
        assert_eq!(code(&f), Some(deny::NOT_ATTESTED));
        let mut f = facts(8, Env::Prod);
        f.human_approval = true;
        f.request.data_label = DataLabel::Restricted;
        assert_eq!(code(&f), Some(deny::DATA_LABEL_EXCEEDS_CLEARANCE));
    }

    #[test]
    fn the_effective_tier_is_the_higher_of_worker_tier_and_env_floor() {
        let mut f = facts(0, Env::Prod);
        f.attestation = None;
        assert_eq!(decide(&PolicyDocument::default_policy(), &f).tier, 0);
        f.owner_policy.floors.insert(Env::Prod, 4);
        let d = decide(&PolicyDocument::default_policy(), &f);
        assert_eq!((d.tier, d.deny_code), (4, Some(deny::NOT_ATTESTED)));
    }

    #[test]
    fn the_first_failure_in_chain_order_wins_and_decisions_are_deterministic() {
        let mut f = facts(8, Env::Prod);
        f.worker.as_mut().unwrap().revoked = true;
        f.ban = BanFact::Banned("x".into());
        f.attestation = None;
        assert_eq!(code(&f), Some(deny::WORKER_REVOKED));
        let p = PolicyDocument::default_policy();
        assert_eq!(decide(&p, &f), decide(&p, &f));
    }
}
