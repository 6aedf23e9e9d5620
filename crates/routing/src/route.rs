//! The router's decision (WCP §4.2, §5.1–5.8, §6), after the I/O is done:
//! the caller (the service) has matched the rule, run each candidate's
//! enrolled workers through the governance chain and picked the first that
//! passes; [`decide`] turns that into a [`RouteDecision`] — required
//! controls (§5.3), blast radius (§6), the policy gate and REQUIRE_HUMAN
//! (§5.8), and the telemetry envelopes (§5.4). Pure and deterministic: the
//! same [`Header`], input and [`Stage`] always give the same decision.
//!
//! Shapes follow pyhall-wcp 0.2.2's `make_decision` where the spec is
//! silent (`deny_reason_if_denied` is `{"code", "message", …extra}`,
//! `matched_rule_id` is `"NO_MATCH"` when no rule matched, a deny carries
//! one `evt.os.task.denied` envelope). Where we differ, docs/routing.md
//! ("Deviations from pyhall-wcp") says why.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use wcp::{ControlId, Env};

use crate::input::RouteInput;
use crate::rules::{Candidate, Escalation, Rule};
use crate::telemetry::{EnvelopeCommon, Envelopes, Telemetry};

/// The deny codes the router gives besides the governance chain's (which
/// are `policy::deny`; the shared ones are spelt the same there).
pub mod deny {
    /// No routing rule matched, or the tenant has none (§5.1).
    pub const NO_MATCHING_RULE: &str = "DENY_NO_MATCHING_RULE";
    /// No candidate species has an enrolled worker that passes the chain.
    pub const NO_AVAILABLE_WORKER: &str = "DENY_NO_AVAILABLE_WORKER";
    pub const MISSING_REQUIRED_CONTROLS: &str = "DENY_MISSING_REQUIRED_CONTROLS";
    pub const BLAST_RADIUS_EXCEEDED: &str = "DENY_BLAST_RADIUS_EXCEEDED";
    pub const REQUIRES_HUMAN_APPROVAL: &str = "DENY_REQUIRES_HUMAN_APPROVAL";
    /// The selected worker's privilege envelope is outside the tenant's
    /// policy (`policy::privilege`; the same spelling there and in pyhall).
    pub const PRIVILEGE_ENVELOPE_VIOLATED: &str = "DENY_PRIVILEGE_ENVELOPE_VIOLATED";
}

/// `matched_rule_id` when no rule matched (pyhall's sentinel).
pub const NO_MATCH: &str = "NO_MATCH";

pub use crate::telemetry::event;

/// What a route decision came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RouteOutcome {
    Allow,
    Deny,
    /// Denied until a human approves (§5.8), as a named-worker decision is.
    RequireHuman,
}

/// Why a decision was denied: pyhall's `{"code", "message", …extra}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenyReason {
    pub code: String,
    pub message: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl DenyReason {
    fn new(code: &str, message: impl Into<String>, extra: Value) -> Self {
        DenyReason {
            code: code.to_string(),
            message: message.into(),
            extra: match extra {
                Value::Object(m) => m,
                _ => Map::new(),
            },
        }
    }
}

/// One candidate of the matched rule as the decision reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateReport {
    pub worker_species_id: String,
    pub score_hint: Option<f64>,
    pub requires_controls_minimum: Vec<String>,
    /// Why it was not selected: `no_enrolled_worker`, the deny code of its
    /// workers' governance chain, `already_selected` (a higher-ranked
    /// candidate was), or `not_considered`. Absent on the selected one.
    pub skip_reason: Option<String>,
    /// The enrolled worker (WCP worker id) chosen for this candidate, when
    /// one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
}

impl CandidateReport {
    /// A candidate of the rule, before any skip reason.
    pub fn of(c: &Candidate) -> Self {
        CandidateReport {
            worker_species_id: c.worker_species_id.to_string(),
            score_hint: c.score_hint,
            requires_controls_minimum: c
                .requires_controls_minimum
                .iter()
                .map(ToString::to_string)
                .collect(),
            skip_reason: None,
            worker_id: None,
        }
    }

    pub fn skipped(c: &Candidate, reason: impl Into<String>) -> Self {
        CandidateReport {
            skip_reason: Some(reason.into()),
            ..Self::of(c)
        }
    }
}

/// Skip reason of a candidate species with no worker the tenant may use.
pub const NO_ENROLLED_WORKER: &str = "no_enrolled_worker";
/// Skip reason of a candidate ranked below the selected one.
pub const ALREADY_SELECTED: &str = "already_selected";

/// The matched rule's escalation, as the decision reports it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EscalationView {
    pub policy_gate: bool,
    pub msavx_step_up: bool,
    pub human_required_default: bool,
    pub human_required_if: Vec<Map<String, Value>>,
    pub rationale: Option<String>,
}

impl From<&Escalation> for EscalationView {
    fn from(e: &Escalation) -> Self {
        EscalationView {
            policy_gate: e.policy_gate,
            msavx_step_up: e.msavx_step_up,
            human_required_default: e.human_required_default,
            human_required_if: e.human_required_if.clone(),
            rationale: e.rationale.clone(),
        }
    }
}

/// A route decision (§4.2, every field) plus our `outcome` and
/// `rules_version`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteDecision {
    pub decision_id: String,
    pub timestamp: String,
    pub correlation_id: String,
    pub tenant_id: String,
    pub capability_id: String,
    /// The rule that matched, or `"NO_MATCH"`.
    pub matched_rule_id: String,
    pub selected_worker_species_id: Option<String>,
    /// The WCP worker id of the enrolled worker chosen.
    pub selected_worker_id: Option<String>,
    pub env: String,
    pub data_label: String,
    pub tenant_risk: String,
    pub qos_class: String,
    pub outcome: RouteOutcome,
    pub denied: bool,
    pub deny_reason_if_denied: Option<DenyReason>,
    pub deny_code: Option<String>,
    /// The chain's blast score (§6): the selected worker's five dimensions
    /// plus the earlier score the input carries. `None` before a worker is
    /// selected.
    pub blast_score: Option<u16>,
    pub blast_gate_passed: Option<bool>,
    /// Whether the selected worker's privilege envelope is within the
    /// tenant's policy (WCP-Full); `None` before a worker passes its
    /// controls.
    pub privilege_envelope_ok: Option<bool>,
    /// Sorted, without repeats.
    pub required_controls_effective: Vec<String>,
    pub recommended_profiles_effective: Vec<Value>,
    pub escalation_effective: EscalationView,
    pub candidate_workers_ranked: Vec<CandidateReport>,
    /// Set by [`decide`] on every decision it returns.
    pub telemetry_envelopes: Option<Envelopes>,
    pub dry_run: bool,
    /// The version of the tenant's rules that decided; `None` when it has none.
    pub rules_version: Option<String>,
}

/// What the governance chain said about the selected worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainVerdict {
    Allow,
    /// The tier policy asks a human first (§5.8); the reason says why.
    RequireHuman(String),
    /// The chain denies (a worker is selected only when its chain allows or
    /// asks a human; after a human's approval the chain runs again and may
    /// still deny).
    Deny {
        code: String,
        reason: String,
    },
}

/// The worker selected for a candidate, as the steps after selection need it.
#[derive(Debug, Clone)]
pub struct SelectedWorker<'a> {
    /// Index of its candidate in the rule's `candidate_workers_ranked`.
    pub candidate: usize,
    /// Its WCP worker id.
    pub worker_id: String,
    /// The controls its record says it implements.
    pub currently_implements: &'a [ControlId],
    /// Its five-dimension blast score (§6), when its record declares one.
    pub blast_score: Option<u8>,
    pub chain: ChainVerdict,
    /// Why its privilege envelope is outside the tenant's policy
    /// (`policy::privilege::check_declared`); `None` when it is within.
    pub privilege_denied: Option<String>,
}

/// How far the router got.
#[derive(Debug, Clone)]
pub enum Stage<'a> {
    /// The tenant has no routing rules at all.
    NoRules,
    /// No rule matched.
    NoMatch,
    /// A rule matched; `candidates` reports each of its candidates (with
    /// skip reasons), in rank order.
    Matched {
        rule: &'a Rule,
        candidates: Vec<CandidateReport>,
        selected: Option<SelectedWorker<'a>>,
        /// A human approved exactly this request (§5.8).
        human_approved: bool,
    },
}

/// The parts of a decision that do not come from the routing.
#[derive(Debug, Clone)]
pub struct Header {
    pub decision_id: String,
    /// RFC 3339, UTC.
    pub timestamp: String,
    /// The tenant the decision is made for (settled by the caller).
    pub tenant_id: String,
    pub rules_version: Option<String>,
    pub policy_version: String,
    /// The blast threshold for the input's env (the policy document's).
    pub blast_threshold: u8,
}

/// Effective controls (§5.3): the rule's required controls and the
/// candidate's `requires_controls_minimum`, sorted, without repeats.
pub fn effective_controls(rule: &Rule, candidate: &Candidate) -> Vec<ControlId> {
    let mut all: Vec<ControlId> = rule
        .decision
        .required_controls
        .iter()
        .chain(&candidate.requires_controls_minimum)
        .cloned()
        .collect();
    all.sort();
    all.dedup();
    all
}

/// The effective controls the worker does not declare in `currently_implements`.
pub fn missing_controls(effective: &[ControlId], implements: &[ControlId]) -> Vec<ControlId> {
    effective
        .iter()
        .filter(|c| !implements.contains(c))
        .cloned()
        .collect()
}

/// The chain's blast score (§6, additive in chains): the worker's own score
/// plus the score the chain carried so far — the input's `blast_score` or
/// the sum of its `blast_radius` dimensions, the larger when it has both.
pub fn chain_blast(worker: Option<u8>, input: &RouteInput) -> u16 {
    let earlier = input
        .blast_score
        .unwrap_or(0)
        .max(input.blast_radius.as_ref().map(|b| b.score()).unwrap_or(0));
    u16::from(worker.unwrap_or(0)) + u16::from(earlier)
}

/// What the blast gate says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlastGate {
    Passed,
    /// Over the threshold in prod or edge: a human decides.
    Escalate,
    /// Over the threshold elsewhere: denied.
    Exceeded,
}

pub fn blast_gate(score: u16, env: Env, threshold: u8) -> BlastGate {
    match (score > u16::from(threshold), env.is_production()) {
        (false, _) => BlastGate::Passed,
        (true, true) => BlastGate::Escalate,
        (true, false) => BlastGate::Exceeded,
    }
}

/// The decision.
pub fn decide(header: &Header, input: &RouteInput, stage: Stage<'_>) -> RouteDecision {
    let mut d = RouteDecision {
        decision_id: header.decision_id.clone(),
        timestamp: header.timestamp.clone(),
        correlation_id: input.correlation_id.to_string(),
        tenant_id: header.tenant_id.clone(),
        capability_id: input.capability_id.to_string(),
        matched_rule_id: NO_MATCH.to_string(),
        selected_worker_species_id: None,
        selected_worker_id: None,
        env: input.env.to_string(),
        data_label: input.data_label.to_string(),
        tenant_risk: input.tenant_risk.to_string(),
        qos_class: input.qos_class.to_string(),
        outcome: RouteOutcome::Deny,
        denied: true,
        deny_reason_if_denied: None,
        deny_code: None,
        blast_score: None,
        blast_gate_passed: None,
        privilege_envelope_ok: None,
        required_controls_effective: Vec::new(),
        recommended_profiles_effective: Vec::new(),
        escalation_effective: EscalationView::default(),
        candidate_workers_ranked: Vec::new(),
        telemetry_envelopes: None,
        dry_run: input.dry_run,
        rules_version: header.rules_version.clone(),
    };
    let (rule, candidates, selected, human_approved) = match stage {
        Stage::NoRules => {
            return denied(
                d,
                DenyReason::new(
                    deny::NO_MATCHING_RULE,
                    "no routing rule matched: this tenant has no routing rules; \
                     fail-closed per WCP spec section 5.1",
                    json!({}),
                ),
            )
        }
        Stage::NoMatch => {
            return denied(
                d,
                DenyReason::new(
                    deny::NO_MATCHING_RULE,
                    "no routing rule matched; fail-closed per WCP spec section 5.1",
                    json!({}),
                ),
            )
        }
        Stage::Matched {
            rule,
            candidates,
            selected,
            human_approved,
        } => (rule, candidates, selected, human_approved),
    };
    d.matched_rule_id = rule.rule_id.to_string();
    d.escalation_effective = (&rule.decision.escalation).into();
    d.recommended_profiles_effective = rule
        .decision
        .recommended_profiles
        .iter()
        .map(|p| Value::String(p.to_string()))
        .collect();
    d.candidate_workers_ranked = candidates;
    let rule_controls = {
        let mut c = rule.decision.required_controls.clone();
        c.sort();
        c.dedup();
        c
    };
    d.required_controls_effective = rule_controls.iter().map(ToString::to_string).collect();

    let Some(sel) = selected else {
        return denied(
            d,
            DenyReason::new(
                deny::NO_AVAILABLE_WORKER,
                "no candidate worker species has an enrolled worker that passes the \
                 governance chain",
                json!({}),
            ),
        );
    };
    let Some(candidate) = rule.decision.candidates.get(sel.candidate) else {
        // The service passes an index of this rule's candidates; fail closed.
        return denied(
            d,
            DenyReason::new(
                deny::NO_AVAILABLE_WORKER,
                "the selected candidate is not one of the rule's",
                json!({}),
            ),
        );
    };

    if let ChainVerdict::Deny { code, reason } = &sel.chain {
        return denied(
            d,
            DenyReason::new(code, reason.clone(), json!({ "worker_id": sel.worker_id })),
        );
    }

    // §5.3: the worker must declare every effective control.
    let effective = effective_controls(rule, candidate);
    d.required_controls_effective = effective.iter().map(ToString::to_string).collect();
    let missing = missing_controls(&effective, sel.currently_implements);
    // Fail closed: `deny_if_missing_required_controls: false` does not let
    // a worker run without a required control (pyhall's Hall floor,
    // `enforce_required_controls`, does the same by default).
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(ToString::to_string).collect();
        return denied(
            d,
            DenyReason::new(
                deny::MISSING_REQUIRED_CONTROLS,
                format!(
                    "worker {} does not implement required controls: {}",
                    sel.worker_id,
                    names.join(", ")
                ),
                json!({ "missing": names, "worker_id": sel.worker_id }),
            ),
        );
    }

    // WCP-Full: the worker's privilege envelope within the tenant's policy.
    d.privilege_envelope_ok = Some(sel.privilege_denied.is_none());
    if let Some(why) = &sel.privilege_denied {
        return denied(
            d,
            DenyReason::new(
                deny::PRIVILEGE_ENVELOPE_VIOLATED,
                format!(
                    "worker {} privilege envelope denied for {}/{}: {why}",
                    sel.worker_id, input.env, input.data_label
                ),
                json!({ "reason": why, "worker_id": sel.worker_id }),
            ),
        );
    }

    // §6: the chain's blast score against the env's threshold.
    let score = chain_blast(sel.blast_score, input);
    d.blast_score = Some(score);
    let gate = blast_gate(score, input.env, header.blast_threshold);
    d.blast_gate_passed = Some(gate == BlastGate::Passed);
    if gate == BlastGate::Exceeded {
        return denied(
            d,
            DenyReason::new(
                deny::BLAST_RADIUS_EXCEEDED,
                format!(
                    "blast score {score} exceeds the {} threshold {}",
                    input.env, header.blast_threshold
                ),
                json!({ "blast_score": score, "threshold": header.blast_threshold }),
            ),
        );
    }

    // §5.8: the chain's REQUIRE_HUMAN, an over-threshold blast in production
    // and the rule's `human_required_default` each ask a human first.
    let mut asks = Vec::new();
    if let ChainVerdict::RequireHuman(reason) = &sel.chain {
        asks.push(reason.clone());
    }
    if gate == BlastGate::Escalate {
        asks.push(format!(
            "blast score {score} exceeds the {} threshold {}",
            input.env, header.blast_threshold
        ));
    }
    let escalation = &rule.decision.escalation;
    if escalation.human_required_default {
        asks.push(format!("rule {} requires a human by default", rule.rule_id));
    }
    // Conditions and step-ups this router cannot evaluate are taken as met
    // (fail closed): a human's approval stands in for them.
    if !escalation.human_required_if.is_empty() {
        asks.push(format!(
            "rule {} asks a human under conditions (human_required_if), which are not \
             evaluated here, so it always does",
            rule.rule_id
        ));
    }
    if escalation.msavx_step_up {
        asks.push(format!(
            "rule {} asks for a step-up (msavx_step_up); a human's approval stands in for it",
            rule.rule_id
        ));
    }
    d.selected_worker_species_id = Some(candidate.worker_species_id.to_string());
    d.selected_worker_id = Some(sel.worker_id.clone());
    if !asks.is_empty() && !human_approved {
        d.outcome = RouteOutcome::RequireHuman;
        d.escalation_effective.human_required_default = true;
        let message = format!("REQUIRE_HUMAN: {}", asks.join("; "));
        let reason = DenyReason::new(
            deny::REQUIRES_HUMAN_APPROVAL,
            message,
            json!({ "supervisor_required": true, "policy_version": header.policy_version }),
        );
        let mut d = denied(d, reason);
        d.outcome = RouteOutcome::RequireHuman;
        return d;
    }

    d.outcome = RouteOutcome::Allow;
    d.denied = false;
    let gate_reason = match (rule.decision.escalation.policy_gate, human_approved) {
        (_, true) => "human_approved",
        (true, false) => "policy_gate_allow",
        (false, false) => "no_gate_required",
    };
    d.telemetry_envelopes = Some(Envelopes {
        common: envelope_common(&d),
        telemetry: Telemetry::Routed {
            policy_version: header.policy_version.clone(),
            qos_class: d.qos_class.clone(),
            selected_worker_id: d.selected_worker_id.clone(),
            gate_reason: gate_reason.to_string(),
        },
    });
    d
}

/// A denied decision with its one `evt.os.task.denied` envelope.
fn denied(mut d: RouteDecision, reason: DenyReason) -> RouteDecision {
    d.denied = true;
    d.outcome = RouteOutcome::Deny;
    d.deny_code = Some(reason.code.clone());
    d.telemetry_envelopes = Some(Envelopes {
        common: envelope_common(&d),
        telemetry: Telemetry::Denied {
            deny_code: reason.code.clone(),
            deny_message: reason.message.clone(),
        },
    });
    d.deny_reason_if_denied = Some(reason);
    d
}

/// The fields every envelope of a decision carries.
fn envelope_common(d: &RouteDecision) -> EnvelopeCommon {
    EnvelopeCommon {
        decision_id: d.decision_id.clone(),
        timestamp: d.timestamp.clone(),
        correlation_id: d.correlation_id.clone(),
        tenant_id: d.tenant_id.clone(),
        capability_id: d.capability_id.clone(),
        matched_rule_id: d.matched_rule_id.clone(),
        selected_worker_species_id: d.selected_worker_species_id.clone(),
        rules_version: d.rules_version.clone(),
        dry_run: d.dry_run,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuleSet;

    fn input(env: &str) -> RouteInput {
        RouteInput::parse(json!({
            "capability_id": "cap.doc.summarize", "env": env, "data_label": "INTERNAL",
            "tenant_risk": "low", "qos_class": "P2",
            "correlation_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
        }))
        .unwrap()
    }

    fn rules(decision: Value) -> RuleSet {
        let mut d = json!({
            "candidate_workers_ranked": [
                {"worker_species_id": "wrk.doc.summarizer", "requires_controls_minimum": ["ctrl.b"]},
                {"worker_species_id": "wrk.doc.backup"}
            ],
            "required_controls_suggested": ["ctrl.c", "ctrl.a"]
        });
        if let (Value::Object(d), Value::Object(extra)) = (&mut d, decision) {
            d.extend(extra);
        }
        RuleSet::parse(&json!({"rules": [
            {"rule_id": "rr_doc", "match": {"capability_id": "cap.doc.summarize"}, "decision": d}
        ]}))
        .unwrap()
    }

    fn header() -> Header {
        Header {
            decision_id: "d-1".into(),
            timestamp: "2026-11-26T00:00:00.000000Z".into(),
            tenant_id: "org.acme".into(),
            rules_version: Some("3".into()),
            policy_version: "hall-default-policy/1".into(),
            blast_threshold: 10,
        }
    }

    fn controls(names: &[&str]) -> Vec<ControlId> {
        names.iter().map(|c| ControlId::parse(c).unwrap()).collect()
    }

    fn selected(
        implements: &[ControlId],
        blast: Option<u8>,
        chain: ChainVerdict,
    ) -> SelectedWorker<'_> {
        SelectedWorker {
            candidate: 0,
            worker_id: "org.acme.summarizer".into(),
            currently_implements: implements,
            blast_score: blast,
            chain,
            privilege_denied: None,
        }
    }

    fn matched<'a>(rs: &'a RuleSet, sel: Option<SelectedWorker<'a>>, approved: bool) -> Stage<'a> {
        let rule = &rs.rules()[0];
        Stage::Matched {
            rule,
            candidates: rule
                .decision
                .candidates
                .iter()
                .map(CandidateReport::of)
                .collect(),
            selected: sel,
            human_approved: approved,
        }
    }

    fn event_ids(d: &RouteDecision) -> Vec<&str> {
        d.telemetry_envelopes.as_ref().unwrap().event_ids().to_vec()
    }

    fn envelopes(d: &RouteDecision) -> Vec<Value> {
        d.telemetry_envelopes.as_ref().unwrap().to_values()
    }

    #[test]
    fn a_tenant_without_rules_is_denied_no_matching_rule_and_told_so() {
        let d = decide(&header(), &input("dev"), Stage::NoRules);
        assert!(d.denied);
        assert_eq!(d.outcome, RouteOutcome::Deny);
        assert_eq!(d.deny_code.as_deref(), Some(deny::NO_MATCHING_RULE));
        assert_eq!(d.matched_rule_id, NO_MATCH);
        let reason = d.deny_reason_if_denied.as_ref().unwrap();
        assert!(
            reason.message.contains("no routing rules"),
            "{}",
            reason.message
        );
        assert_eq!(event_ids(&d), [event::TASK_DENIED]);
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["deny_reason_if_denied"]["code"], "DENY_NO_MATCHING_RULE");
        assert_eq!(
            v["telemetry_envelopes"][0]["deny_code"],
            "DENY_NO_MATCHING_RULE"
        );
        assert_eq!(
            v["telemetry_envelopes"][0]["correlation_id"],
            d.correlation_id
        );
    }

    #[test]
    fn no_match_is_denied_without_naming_missing_rules() {
        let d = decide(&header(), &input("dev"), Stage::NoMatch);
        assert_eq!(d.deny_code.as_deref(), Some(deny::NO_MATCHING_RULE));
        assert!(!d
            .deny_reason_if_denied
            .unwrap()
            .message
            .contains("no routing rules"));
    }

    #[test]
    fn no_selected_worker_is_denied_no_available_worker_with_the_skip_reasons() {
        let rs = rules(json!({}));
        let rule = &rs.rules()[0];
        let stage = Stage::Matched {
            rule,
            candidates: vec![
                CandidateReport::skipped(&rule.decision.candidates[0], NO_ENROLLED_WORKER),
                CandidateReport::skipped(&rule.decision.candidates[1], "DENY_WORKER_REVOKED"),
            ],
            selected: None,
            human_approved: false,
        };
        let d = decide(&header(), &input("dev"), stage);
        assert_eq!(d.deny_code.as_deref(), Some(deny::NO_AVAILABLE_WORKER));
        assert_eq!(d.matched_rule_id, "rr_doc");
        assert_eq!(
            d.candidate_workers_ranked[1].skip_reason.as_deref(),
            Some("DENY_WORKER_REVOKED")
        );
    }

    #[test]
    fn a_worker_whose_privilege_envelope_is_refused_is_denied_after_its_controls() {
        let rs = rules(json!({}));
        let all = controls(&["ctrl.a", "ctrl.b", "ctrl.c"]);
        let ok = decide(
            &header(),
            &input("dev"),
            matched(
                &rs,
                Some(selected(&all, Some(1), ChainVerdict::Allow)),
                false,
            ),
        );
        assert_eq!(ok.privilege_envelope_ok, Some(true));
        assert!(!ok.denied);

        let mut refused = selected(&all, Some(1), ChainVerdict::Allow);
        refused.privilege_denied = Some("egress_not_allowlisted:api.example.com".into());
        let d = decide(
            &header(),
            &input("prod"),
            matched(&rs, Some(refused), false),
        );
        assert_eq!(
            d.deny_code.as_deref(),
            Some(deny::PRIVILEGE_ENVELOPE_VIOLATED)
        );
        assert_eq!(d.privilege_envelope_ok, Some(false));
        assert_eq!(d.blast_score, None, "denied before the blast gate");
        let reason = d.deny_reason_if_denied.unwrap();
        assert!(
            reason
                .message
                .contains("egress_not_allowlisted:api.example.com"),
            "{}",
            reason.message
        );
        assert_eq!(reason.extra["worker_id"], "org.acme.summarizer");

        // Missing controls deny first: the envelope is not reached.
        let few = controls(&["ctrl.a"]);
        let mut both = selected(&few, Some(1), ChainVerdict::Allow);
        both.privilege_denied = Some("declares no privilege envelope".into());
        let d = decide(&header(), &input("prod"), matched(&rs, Some(both), false));
        assert_eq!(
            d.deny_code.as_deref(),
            Some(deny::MISSING_REQUIRED_CONTROLS)
        );
        assert_eq!(d.privilege_envelope_ok, None);
    }

    #[test]
    fn escalation_conditions_not_evaluated_here_ask_a_human_always() {
        let all = controls(&["ctrl.a", "ctrl.b", "ctrl.c"]);
        for escalation in [
            json!({"human_required_if": [{"env": "prod"}]}),
            json!({"msavx_step_up": true}),
        ] {
            let rs = rules(json!({ "escalation": escalation }));
            let sel = selected(&all, Some(1), ChainVerdict::Allow);
            let d = decide(&header(), &input("dev"), matched(&rs, Some(sel), false));
            assert_eq!(d.outcome, RouteOutcome::RequireHuman, "{escalation}");
            assert_eq!(d.deny_code.as_deref(), Some(deny::REQUIRES_HUMAN_APPROVAL));
            // A human's approval lets it through.
            let sel = selected(&all, Some(1), ChainVerdict::Allow);
            let d = decide(&header(), &input("dev"), matched(&rs, Some(sel), true));
            assert_eq!(d.outcome, RouteOutcome::Allow, "{escalation}");
        }
    }

    #[test]
    fn effective_controls_are_the_rules_and_the_candidates_sorted() {
        let rs = rules(json!({}));
        let rule = &rs.rules()[0];
        assert_eq!(
            effective_controls(rule, &rule.decision.candidates[0]),
            controls(&["ctrl.a", "ctrl.b", "ctrl.c"])
        );
        assert_eq!(
            effective_controls(rule, &rule.decision.candidates[1]),
            controls(&["ctrl.a", "ctrl.c"])
        );
    }

    #[test]
    fn a_worker_missing_a_control_is_denied_naming_it() {
        let rs = rules(json!({}));
        let has = controls(&["ctrl.a", "ctrl.c"]);
        let d = decide(
            &header(),
            &input("dev"),
            matched(&rs, Some(selected(&has, None, ChainVerdict::Allow)), false),
        );
        assert_eq!(
            d.deny_code.as_deref(),
            Some(deny::MISSING_REQUIRED_CONTROLS)
        );
        let reason = d.deny_reason_if_denied.unwrap();
        assert_eq!(reason.extra["missing"], json!(["ctrl.b"]));
        assert_eq!(
            d.required_controls_effective,
            ["ctrl.a", "ctrl.b", "ctrl.c"]
        );
        assert!(d.selected_worker_species_id.is_none());
    }

    #[test]
    fn a_worker_with_every_control_is_allowed_with_the_three_envelopes() {
        let rs = rules(json!({}));
        let has = controls(&["ctrl.a", "ctrl.b", "ctrl.c", "ctrl.z"]);
        let d = decide(
            &header(),
            &input("dev"),
            matched(
                &rs,
                Some(selected(&has, Some(3), ChainVerdict::Allow)),
                false,
            ),
        );
        assert_eq!(d.outcome, RouteOutcome::Allow);
        assert!(!d.denied);
        assert!(d.deny_code.is_none());
        assert_eq!(
            d.selected_worker_species_id.as_deref(),
            Some("wrk.doc.summarizer")
        );
        assert_eq!(d.selected_worker_id.as_deref(), Some("org.acme.summarizer"));
        assert_eq!(d.blast_score, Some(3));
        assert_eq!(d.blast_gate_passed, Some(true));
        assert_eq!(
            event_ids(&d),
            [
                event::TASK_ROUTED,
                event::WORKER_SELECTED,
                event::POLICY_GATED
            ]
        );
        for e in &envelopes(&d) {
            assert_eq!(e["correlation_id"], "3f2504e0-4f89-41d3-9a0c-0305e82c3301");
            assert_eq!(e["tenant_id"], "org.acme");
            assert_eq!(e["capability_id"], "cap.doc.summarize");
            assert_eq!(e["matched_rule_id"], "rr_doc");
            assert_eq!(e["selected_worker_species_id"], "wrk.doc.summarizer");
            assert_eq!(e["rules_version"], "3");
            assert_eq!(e["timestamp"], d.timestamp);
            assert!(e.get("dry_run").is_none());
        }
        assert_eq!(envelopes(&d)[2]["reason"], "no_gate_required");
    }

    #[test]
    fn the_chain_blast_adds_the_earlier_score_and_takes_the_larger_of_the_inputs() {
        let mut i = input("dev");
        assert_eq!(chain_blast(Some(3), &i), 3);
        assert_eq!(chain_blast(None, &i), 0);
        i.blast_score = Some(4);
        assert_eq!(chain_blast(Some(3), &i), 7);
        i.blast_radius =
            Some(wcp::BlastRadius::from_json(&json!({"data": 5, "network": 1})).unwrap());
        assert_eq!(chain_blast(Some(3), &i), 9);
        i.blast_score = Some(20);
        assert_eq!(chain_blast(Some(3), &i), 23);
    }

    #[test]
    fn the_blast_gate_denies_outside_production_and_escalates_in_it() {
        assert_eq!(blast_gate(10, Env::Dev, 10), BlastGate::Passed);
        assert_eq!(blast_gate(11, Env::Dev, 10), BlastGate::Exceeded);
        assert_eq!(blast_gate(11, Env::Stage, 10), BlastGate::Exceeded);
        assert_eq!(blast_gate(11, Env::Prod, 10), BlastGate::Escalate);
        assert_eq!(blast_gate(11, Env::Edge, 10), BlastGate::Escalate);
    }

    #[test]
    fn an_over_threshold_blast_is_denied_in_dev_and_asks_a_human_in_prod() {
        let rs = rules(json!({}));
        let has = controls(&["ctrl.a", "ctrl.b", "ctrl.c"]);
        let dev = decide(
            &header(),
            &input("dev"),
            matched(
                &rs,
                Some(selected(&has, Some(12), ChainVerdict::Allow)),
                false,
            ),
        );
        assert_eq!(dev.deny_code.as_deref(), Some(deny::BLAST_RADIUS_EXCEEDED));
        assert_eq!(dev.blast_gate_passed, Some(false));
        assert_eq!(dev.blast_score, Some(12));

        let prod = decide(
            &header(),
            &input("prod"),
            matched(
                &rs,
                Some(selected(&has, Some(12), ChainVerdict::Allow)),
                false,
            ),
        );
        assert_eq!(prod.outcome, RouteOutcome::RequireHuman);
        assert!(prod.denied);
        assert_eq!(
            prod.deny_code.as_deref(),
            Some(deny::REQUIRES_HUMAN_APPROVAL)
        );
        assert_eq!(
            prod.selected_worker_id.as_deref(),
            Some("org.acme.summarizer")
        );
        assert_eq!(
            prod.deny_reason_if_denied.unwrap().extra["supervisor_required"],
            true
        );

        let approved = decide(
            &header(),
            &input("prod"),
            matched(
                &rs,
                Some(selected(&has, Some(12), ChainVerdict::Allow)),
                true,
            ),
        );
        assert_eq!(approved.outcome, RouteOutcome::Allow);
        assert_eq!(envelopes(&approved)[2]["reason"], "human_approved");
    }

    #[test]
    fn the_chains_require_human_and_the_rules_default_ask_a_human() {
        let has = controls(&["ctrl.a", "ctrl.b", "ctrl.c"]);
        let rs = rules(json!({}));
        let d = decide(
            &header(),
            &input("dev"),
            matched(
                &rs,
                Some(selected(
                    &has,
                    None,
                    ChainVerdict::RequireHuman("L8 needs a human".into()),
                )),
                false,
            ),
        );
        assert_eq!(d.outcome, RouteOutcome::RequireHuman);
        assert!(d
            .deny_reason_if_denied
            .unwrap()
            .message
            .contains("L8 needs a human"));

        let rs =
            rules(json!({"escalation": {"policy_gate": true, "human_required_default": true}}));
        let d = decide(
            &header(),
            &input("dev"),
            matched(&rs, Some(selected(&has, None, ChainVerdict::Allow)), false),
        );
        assert_eq!(d.outcome, RouteOutcome::RequireHuman);
        assert_eq!(event_ids(&d), [event::TASK_DENIED]);

        let rs = rules(json!({"escalation": {"policy_gate": true}}));
        let d = decide(
            &header(),
            &input("dev"),
            matched(&rs, Some(selected(&has, None, ChainVerdict::Allow)), false),
        );
        assert_eq!(d.outcome, RouteOutcome::Allow);
        assert_eq!(envelopes(&d)[2]["reason"], "policy_gate_allow");
        assert!(d.escalation_effective.policy_gate);
    }

    #[test]
    fn a_dry_run_is_the_full_decision_marked_in_every_envelope() {
        let rs = rules(json!({}));
        let has = controls(&["ctrl.a", "ctrl.b", "ctrl.c"]);
        let mut i = input("dev");
        i.dry_run = true;
        let d = decide(
            &header(),
            &i,
            matched(&rs, Some(selected(&has, None, ChainVerdict::Allow)), false),
        );
        assert!(d.dry_run);
        assert_eq!(d.outcome, RouteOutcome::Allow);
        assert!(envelopes(&d).iter().all(|e| e["dry_run"] == true));
    }

    #[test]
    fn the_same_input_and_state_give_the_same_decision() {
        let rs = rules(json!({}));
        let has = controls(&["ctrl.a", "ctrl.b", "ctrl.c"]);
        let a = decide(
            &header(),
            &input("prod"),
            matched(
                &rs,
                Some(selected(&has, Some(2), ChainVerdict::Allow)),
                false,
            ),
        );
        let b = decide(
            &header(),
            &input("prod"),
            matched(
                &rs,
                Some(selected(&has, Some(2), ChainVerdict::Allow)),
                false,
            ),
        );
        assert_eq!(a, b);
    }
}
