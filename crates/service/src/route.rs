//! The router use case (WCP §4, §5): a capability request in, a route
//! decision with its signed receipt and telemetry out. [`Hall::route`]
//! settles the tenant as decisions do, takes the tenant's routing rules in
//! force, matches the first rule (`routing::RuleSet::first_match`; none:
//! denied, §5.1), runs each candidate species' enrolled workers through the
//! same governance chain as a decision about a named worker
//! ([`Hall::chain`]) and selects the first that passes; the pure
//! `routing::route::decide` then applies the required controls, the blast
//! radius and the policy gate. REQUIRE_HUMAN goes through the decisions'
//! approvals (`decide::approval`). Every outcome, deny and dry run included,
//! is one receipt in the tenant's chain (version 3, with the route
//! evidence); the telemetry envelopes are stored in its transaction.

use std::sync::Arc;

use audit::{Outcome, UnsignedReceipt};
use chrono::{SecondsFormat, Utc};
use policy::Request;
use registry::receipts::PendingReceipt;
use registry::route_events::RouteEvent;
use registry::workers::Worker;
use registry::{Entity, StoreError};
use routing::route::{
    self as router, CandidateReport, ChainVerdict, Header, RouteDecision, RouteOutcome, Stage,
};
use routing::RouteInput;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use wcp::TenantId;

use crate::decide::approval::{ask_human, open_advisory, HumanAnswer, InFlight};
use crate::decide::{DecideError, Supervision};
use crate::routing_rules::ActiveRules;
use crate::{Caller, Hall};

/// A route request, parsed; the tenant settled ([`Caller::decides_for`]).
#[derive(Debug, Clone)]
pub struct RouteCommand {
    pub input: RouteInput,
    pub tenant: TenantId,
    /// The request named no `data_label`: the tenant's default label
    /// (`TenantPolicy::default_data_label`) replaces the input's.
    pub default_label: bool,
}

/// A route decision made, with its committed receipt.
#[derive(Debug, Clone)]
pub struct Routed {
    pub decision: RouteDecision,
    pub receipt: audit::Receipt,
    /// The receipt's leaf in the tenant's Merkle tree.
    pub leaf_index: u64,
    /// The human-approval fields of the answer (REQUIRE_HUMAN).
    pub supervision: Supervision,
    /// The SHA-256 of the selected worker's current attestation.
    pub artifact_hash: Option<String>,
}

/// Why no route decision was made.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// The tenant named is not the caller's to route for (the same refusals
    /// as a decision's: [`DecideError`]'s tenant variants).
    #[error(transparent)]
    Tenant(DecideError),
    /// No receipt, so no decision.
    #[error("the decision's receipt could not be committed; retry")]
    ReceiptNotCommitted(#[source] StoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<DecideError> for RouteError {
    fn from(e: DecideError) -> Self {
        match e {
            DecideError::Store(e) => RouteError::Store(e),
            e => RouteError::Tenant(e),
        }
    }
}

/// Largest number of telemetry events one query answers.
pub const MAX_EVENTS: i64 = 500;

/// The candidate selected: its index, its worker and the chain's facts.
struct Pick {
    index: usize,
    worker: Arc<Worker>,
    chained: crate::decide::Chained,
    /// Why its privilege envelope is outside the routing tenant's policy.
    privilege_denied: Option<String>,
}

impl Hall {
    /// Routes a capability request by the tenant's rules in force.
    pub async fn route(
        &self,
        caller: Caller<'_>,
        command: RouteCommand,
    ) -> Result<Routed, RouteError> {
        self.settle(caller, &command.tenant).await?;
        let rules = self.active_rules(&command.tenant).await?;
        self.routed(caller, command, rules.as_deref()).await
    }

    /// Routes by `rules` (`None`: the tenant has none). [`Hall::route`]
    /// with the rules given, for golden snapshots and tests.
    pub async fn route_with_rules(
        &self,
        caller: Caller<'_>,
        command: RouteCommand,
        rules: Option<&ActiveRules>,
    ) -> Result<Routed, RouteError> {
        self.settle(caller, &command.tenant).await?;
        self.routed(caller, command, rules).await
    }

    /// The route, once the tenant is settled.
    async fn routed(
        &self,
        caller: Caller<'_>,
        command: RouteCommand,
        rules: Option<&ActiveRules>,
    ) -> Result<Routed, RouteError> {
        let RouteCommand {
            mut input,
            tenant,
            default_label,
        } = command;
        let tenant_policy = self.facts.decision_policy(&tenant).await?;
        if default_label {
            input.data_label = tenant_policy.default_data_label;
        }
        let receipt_id = Uuid::now_v7();
        let now = Utc::now();
        let header = Header {
            decision_id: receipt_id.to_string(),
            timestamp: now.to_rfc3339_opts(SecondsFormat::Micros, true),
            tenant_id: tenant.to_string(),
            rules_version: rules.map(|r| r.version.to_string()),
            policy_version: self.policy.version.clone(),
            blast_threshold: self.policy.blast_threshold(input.env),
        };
        let request = Request {
            capability: input.capability_id.clone(),
            env: input.env,
            data_label: input.data_label,
            tenant: tenant.clone(),
        };
        let matched = rules.and_then(|r| r.rules.first_match(&input));

        let mut pick = None;
        let mut candidates = Vec::new();
        if let Some(rule) = matched {
            for (index, candidate) in rule.decision.candidates.iter().enumerate() {
                if pick.is_some() {
                    candidates.push(CandidateReport::skipped(
                        candidate,
                        router::ALREADY_SELECTED,
                    ));
                    continue;
                }
                let (found, report) = self.candidate(&tenant, index, candidate, &request).await?;
                candidates.push(report);
                pick = found;
            }
        }

        // WCP-Full: the worker's privilege envelope against the routing
        // tenant's policy — its data is what the envelope could let out.
        if let Some(p) = pick.as_mut() {
            p.privilege_denied = policy::privilege::check_declared(
                p.worker.record.privilege_envelope.as_ref(),
                input.env,
                input.data_label,
                &tenant_policy,
            )
            .err()
            .map(|refused| refused.reason);
        }

        // A human approved exactly this request (§5.8)?
        let mut approved = None;
        let mut supervision = Supervision::default();
        let mut decision = self.judge(&header, &input, rules, matched, &candidates, &pick, false);
        let asked = match (decision.outcome, &pick) {
            (RouteOutcome::RequireHuman, Some(p)) => {
                let reason = decision
                    .deny_reason_if_denied
                    .as_ref()
                    .map(|r| r.message.clone())
                    .unwrap_or_default();
                let context = serde_json::json!({
                    "worker_id": p.worker.record.worker_id.to_string(),
                    "capability_id": input.capability_id.to_string(),
                    "env": input.env.to_string(),
                    "data_label": input.data_label.to_string(),
                    "tenant_id": tenant.to_string(),
                    "tenant_risk": input.tenant_risk.to_string(),
                    "tier": p.chained.decision.tier,
                    "blast_score": decision.blast_score,
                    "matched_rule_id": decision.matched_rule_id,
                    "rules_version": header.rules_version,
                    "policy_version": self.policy.version,
                    "reason": reason,
                });
                // A malformed id cannot get here: `RouteInput` checks its shape.
                let brought = input
                    .approval_id
                    .as_deref()
                    .and_then(|a| Uuid::parse_str(a).ok());
                let this = InFlight {
                    brought,
                    receipt_id,
                    correlation_id: input.correlation_id.as_str(),
                    dry_run: input.dry_run,
                };
                Some(ask_human(self, &p.worker, &request, reason, context, this).await?)
            }
            _ => None,
        };
        // The approval this route opens, if any.
        let mut opening = None;
        match asked {
            None => {}
            Some((HumanAnswer::Approved(id), _)) => {
                approved = Some(id);
                // The chain again, now with the human's approval: it lets
                // the REQUIRE_HUMAN checks through, nothing else.
                if let Some(p) = pick.as_mut() {
                    p.chained.facts.human_approval = true;
                    p.chained.decision = policy::decide(&self.policy, &p.chained.facts);
                }
                decision = self.judge(&header, &input, rules, matched, &candidates, &pick, true);
            }
            Some((HumanAnswer::Waiting { approval, opens }, reason)) => {
                if let Some(r) = decision.deny_reason_if_denied.as_mut() {
                    r.message = reason;
                    r.extra
                        .insert("pending_approval_id".into(), approval.id.to_string().into());
                }
                if opens {
                    opening = Some((*approval).clone());
                }
                supervision = Supervision::new(false, Some(*approval));
            }
            Some((HumanAnswer::NotOpened, reason)) => {
                if let Some(r) = decision.deny_reason_if_denied.as_mut() {
                    r.message = reason;
                }
                supervision = Supervision::new(false, None);
            }
        }

        // L7 advisory (the tenant's choice): allowed, and a human is
        // notified — as for a decision about a named worker.
        if let (RouteOutcome::Allow, Some(p), None) = (decision.outcome, &pick, approved) {
            if p.chained.decision.advisory_human && !input.dry_run {
                let opened = open_advisory(
                    self,
                    &p.worker,
                    &p.chained.facts,
                    &p.chained.decision,
                    receipt_id,
                    input.correlation_id.as_str(),
                )
                .await?;
                opening = Some(opened.clone());
                supervision = Supervision::new(true, Some(opened));
            }
        }

        let artifact_hash = pick
            .as_ref()
            .filter(|_| decision.selected_worker_id.is_some())
            .and_then(|p| p.chained.artifact_hash.clone());
        let content = UnsignedReceipt {
            receipt_id: receipt_id.to_string(),
            spec_version: wcp::SPEC_VERSION.to_string(),
            tenant_id: tenant.to_string(),
            correlation_id: input.correlation_id.to_string(),
            decided_at: header.timestamp.clone(),
            worker_id: decision.selected_worker_id.clone().unwrap_or_default(),
            capability_id: input.capability_id.to_string(),
            env: input.env.to_string(),
            data_label: input.data_label.to_string(),
            outcome: Outcome::of(decision.denied),
            deny_code: decision.deny_code.clone(),
            tier: pick.as_ref().map(|p| p.chained.decision.tier).unwrap_or(0),
            policy_version: self.policy.version.clone(),
            controls_verified: if decision.denied {
                Vec::new()
            } else {
                decision.required_controls_effective.clone()
            },
            request_hash: Some(request_hash(&input)),
            dry_run: input.dry_run,
            prev_receipt_hash: None,
            signing_key_id: String::new(),
            approval_id: approved
                .or_else(|| {
                    supervision
                        .pending_approval_id
                        .as_deref()
                        .and_then(|a| Uuid::parse_str(a).ok())
                })
                .map(|a| a.to_string()),
            receipt_version: audit::ReceiptVersion::V3,
            acting_key_id: Some(caller.key_id.to_string()),
            matched_rule_id: Some(decision.matched_rule_id.clone()),
            rules_version: rules.map(|r| r.version.to_string()),
            rules_sha256: rules.map(|r| r.sha256.clone()),
            selected_worker_species_id: decision.selected_worker_species_id.clone(),
        };
        let receipt = self
            .commit_receipt(
                PendingReceipt {
                    content,
                    decided_at: now,
                    denied: decision.denied,
                    deny_reason: decision
                        .deny_reason_if_denied
                        .as_ref()
                        .map(|r| r.message.clone()),
                    idempotency: None,
                    // Stored with the receipt, in its transaction.
                    telemetry: decision
                        .telemetry_envelopes
                        .as_ref()
                        .map(|e| e.telemetry.clone()),
                    // Set by `commit_receipt`.
                    announce_denied: false,
                    // Stored and announced in the receipt's transaction.
                    opens: opening,
                },
                approved,
            )
            .await
            .map_err(RouteError::ReceiptNotCommitted)?;

        Ok(Routed {
            decision,
            receipt: receipt.receipt,
            leaf_index: receipt.leaf_index,
            supervision,
            artifact_hash,
        })
    }

    /// The tenant's telemetry envelopes with `correlation_id`, oldest first.
    pub async fn route_events(
        &self,
        tenant: &TenantId,
        correlation_id: &routing::CorrelationId,
        limit: wcp::PageLimit,
    ) -> Result<Vec<RouteEvent>, StoreError> {
        self.store
            .tenant(tenant)
            .route_events(
                correlation_id.as_str(),
                i64::from(limit.get()).min(MAX_EVENTS),
            )
            .await
    }

    /// The tenant a route is for: the caller's to route for, and known.
    async fn settle(&self, caller: Caller<'_>, tenant: &TenantId) -> Result<(), RouteError> {
        caller.may_decide_for(tenant)?;
        if tenant != caller.tenant {
            // Only the operator gets here; a receipt needs its tenant's chain.
            self.facts
                .decision_policy(tenant)
                .await
                .map_err(|e| match e {
                    StoreError::NotFound(Entity::Tenant(t)) => {
                        RouteError::Tenant(DecideError::UnknownTenant(t))
                    }
                    e => RouteError::Store(e),
                })?;
        }
        Ok(())
    }

    /// One candidate species: its enrolled workers the tenant may use, in
    /// `worker_id` order, each through the governance chain; the first
    /// allowed (or only asking for a human) is picked. Otherwise the report
    /// says why: no worker, or the deny codes of the workers.
    async fn candidate(
        &self,
        tenant: &TenantId,
        index: usize,
        candidate: &routing::Candidate,
        request: &Request,
    ) -> Result<(Option<Pick>, CandidateReport), StoreError> {
        let workers = self
            .facts
            .workers_of_species(tenant, &candidate.worker_species_id)
            .await?;
        let mut codes: Vec<&'static str> = Vec::new();
        for w in workers.iter() {
            let Some(chained) = self.chain(w, request.clone()).await? else {
                continue;
            };
            match chained.decision.deny_code {
                None | Some(policy::deny::REQUIRES_HUMAN_APPROVAL) => {
                    let mut report = CandidateReport::of(candidate);
                    report.worker_id = Some(w.record.worker_id.to_string());
                    let pick = Pick {
                        index,
                        worker: w.clone(),
                        chained,
                        privilege_denied: None,
                    };
                    return Ok((Some(pick), report));
                }
                Some(code) => {
                    if !codes.contains(&code) {
                        codes.push(code);
                    }
                }
            }
        }
        let reason = if codes.is_empty() {
            router::NO_ENROLLED_WORKER.to_string()
        } else {
            codes.join(",")
        };
        Ok((None, CandidateReport::skipped(candidate, reason)))
    }

    /// The pure decision over what was gathered.
    #[allow(clippy::too_many_arguments)]
    fn judge(
        &self,
        header: &Header,
        input: &RouteInput,
        rules: Option<&ActiveRules>,
        matched: Option<&routing::Rule>,
        candidates: &[CandidateReport],
        pick: &Option<Pick>,
        human_approved: bool,
    ) -> RouteDecision {
        let stage = match (rules, matched) {
            (None, _) => Stage::NoRules,
            (Some(_), None) => Stage::NoMatch,
            (Some(_), Some(rule)) => Stage::Matched {
                rule,
                candidates: candidates.to_vec(),
                selected: pick.as_ref().map(|p| router::SelectedWorker {
                    candidate: p.index,
                    worker_id: p.worker.record.worker_id.to_string(),
                    currently_implements: &p.worker.record.currently_implements,
                    blast_score: p
                        .worker
                        .record
                        .blast_radius
                        .as_ref()
                        .map(|(b, _)| b.score()),
                    chain: verdict(&p.chained.decision),
                    privilege_denied: p.privilege_denied.clone(),
                }),
                human_approved,
            },
        };
        router::decide(header, input, stage)
    }
}

/// The chain's decision as the router reads it.
fn verdict(d: &policy::Decision) -> ChainVerdict {
    match d.deny_code {
        None => ChainVerdict::Allow,
        Some(policy::deny::REQUIRES_HUMAN_APPROVAL) => {
            ChainVerdict::RequireHuman(d.deny_reason.clone().unwrap_or_default())
        }
        Some(code) => ChainVerdict::Deny {
            code: code.to_string(),
            reason: d.deny_reason.clone().unwrap_or_default(),
        },
    }
}

/// SHA-256 (hex) of the canonical JSON of the input's `request` payload
/// (§5.7 `artifact_hash` of the request), bound into the receipt.
fn request_hash(input: &RouteInput) -> String {
    let canonical = wcp::canonical::object_to_canonical_json(&input.request);
    wcp::canonical::hex(&Sha256::digest(canonical.as_bytes()))
}
