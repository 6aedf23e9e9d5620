//! The router use case: rules, candidates through the governance chain,
//! controls, blast radius, REQUIRE_HUMAN, receipts and telemetry.

use audit::{Outcome, ReceiptVersion};
use registry::workers::WorkerRef;
use routing::route::RouteOutcome;
use routing::{RouteInput, RuleSet};
use serde_json::{json, Value};
use service::approvals::{Answer, ResolveCommand};
use service::route::{RouteCommand, RouteError, Routed};
use service::routing_rules::ActiveRules;
use service::DecideError;
use uuid::Uuid;
use wcp::TenantId;

use crate::fixture::{key_of, Fixture, CAP};

const SPECIES: &str = "wrk.doc.summarizer";
const BACKUP: &str = "wrk.doc.backup";

/// A rule set: one rule for [`CAP`] with the candidates [`SPECIES`] then
/// [`BACKUP`]; `decision` adds to (or replaces) the rule's decision.
fn rules(decision: Value) -> ActiveRules {
    let mut d = json!({
        "candidate_workers_ranked": [
            {"worker_species_id": SPECIES, "score_hint": 1.0},
            {"worker_species_id": BACKUP}
        ],
        "required_controls_suggested": ["ctrl.tier.audit"]
    });
    for (k, v) in decision.as_object().unwrap() {
        d[k] = v.clone();
    }
    let doc = json!({"rules": [
        {"rule_id": "rr_tier_run", "match": {"capability_id": CAP}, "decision": d}
    ]});
    ActiveRules {
        version: routing::RulesVersion::new(7).unwrap(),
        rules: RuleSet::parse(&doc).unwrap(),
        sha256: "c".repeat(64),
    }
}

/// A route input for [`CAP`] in `env`; `extra` adds fields.
fn input(env: &str, extra: Value) -> RouteInput {
    let mut body = json!({
        "capability_id": CAP, "env": env, "data_label": "PUBLIC",
        "tenant_risk": "low", "qos_class": "P2",
        "correlation_id": Uuid::new_v4().to_string(),
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    RouteInput::parse(body).unwrap()
}

async fn route(f: &Fixture, tenant: &TenantId, input: RouteInput, rules: &ActiveRules) -> Routed {
    f.hall
        .route_with_rules(
            key_of(tenant),
            RouteCommand {
                input,
                tenant: tenant.clone(),
                default_label: false,
            },
            Some(rules),
        )
        .await
        .unwrap()
}

/// Registers `worker_id` of `species` (the fixture's worker otherwise).
async fn enrol(f: &Fixture, owner: &TenantId, worker_id: &str, species: &str, extra: Value) {
    let mut overrides = json!({"worker_species_id": species});
    for (k, v) in extra.as_object().unwrap() {
        overrides[k] = v.clone();
    }
    f.register(owner, worker_id, 1, overrides).await;
}

#[tokio::test]
async fn a_tenant_without_rules_is_denied_no_matching_rule_with_a_receipt() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    let routed = f
        .hall
        .route(
            key_of(&acme),
            RouteCommand {
                input: input("dev", json!({})),
                tenant: acme.clone(),
                default_label: false,
            },
        )
        .await
        .unwrap();
    let d = &routed.decision;
    assert!(d.denied);
    assert_eq!(d.deny_code.as_deref(), Some("DENY_NO_MATCHING_RULE"));
    assert_eq!(d.matched_rule_id, "NO_MATCH");
    assert!(d
        .deny_reason_if_denied
        .as_ref()
        .unwrap()
        .message
        .contains("no routing rules"));
    let chain = f.chain(&acme).await;
    assert_eq!(chain.len(), 1);
    let r = &chain[0].content;
    assert_eq!(r.receipt_id, d.decision_id);
    assert_eq!(r.outcome, Outcome::Deny);
    assert_eq!(r.receipt_version, ReceiptVersion::V3);
    assert_eq!(r.matched_rule_id.as_deref(), Some("NO_MATCH"));
    assert_eq!(r.rules_version, None);
}

#[tokio::test]
async fn a_matching_rule_selects_the_enrolled_worker_and_the_receipt_carries_the_route() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    enrol(&f, &acme, "x.acme.sum", SPECIES, json!({})).await;
    let rules = rules(json!({}));
    let routed = route(&f, &acme, input("dev", json!({})), &rules).await;
    let d = &routed.decision;
    assert_eq!(d.outcome, RouteOutcome::Allow, "{d:?}");
    assert_eq!(d.selected_worker_species_id.as_deref(), Some(SPECIES));
    assert_eq!(d.selected_worker_id.as_deref(), Some("x.acme.sum"));
    assert_eq!(d.matched_rule_id, "rr_tier_run");
    assert_eq!(d.required_controls_effective, ["ctrl.tier.audit"]);
    assert_eq!(d.blast_score, Some(5));
    assert_eq!(d.rules_version.as_deref(), Some("7"));
    assert_eq!(
        d.candidate_workers_ranked[1].skip_reason.as_deref(),
        Some("already_selected")
    );

    let chain = f.chain(&acme).await;
    assert_eq!(chain.len(), 1);
    let r = &chain[0];
    assert_eq!(r.receipt_hash, routed.receipt.receipt_hash);
    assert_eq!(r.content.worker_id, "x.acme.sum");
    assert_eq!(r.content.rules_version.as_deref(), Some("7"));
    assert_eq!(r.content.rules_sha256, Some("c".repeat(64)));
    assert_eq!(r.content.matched_rule_id.as_deref(), Some("rr_tier_run"));
    assert_eq!(
        r.content.selected_worker_species_id.as_deref(),
        Some(SPECIES)
    );
    assert_eq!(r.content.controls_verified, ["ctrl.tier.audit"]);
}

#[tokio::test]
async fn no_rule_matching_is_denied_and_says_the_tenant_has_rules() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    let rules = rules(json!({}));
    let mut i = input("dev", json!({}));
    i.capability_id = wcp::CapabilityId::parse("cap.other.thing").unwrap();
    let d = route(&f, &acme, i, &rules).await.decision;
    assert_eq!(d.deny_code.as_deref(), Some("DENY_NO_MATCHING_RULE"));
    assert!(!d
        .deny_reason_if_denied
        .unwrap()
        .message
        .contains("no routing rules"));
    assert_eq!(f.chain(&acme).await.len(), 1);
}

#[tokio::test]
async fn a_revoked_first_candidate_is_skipped_with_its_deny_code_and_the_second_selected() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    enrol(&f, &acme, "x.acme.sum", SPECIES, json!({})).await;
    enrol(&f, &acme, "x.acme.backup", BACKUP, json!({})).await;
    f.hall
        .revoke_worker(&acme, &WorkerRef::parse("x.acme.sum").unwrap())
        .await
        .unwrap();
    let d = route(&f, &acme, input("dev", json!({})), &rules(json!({})))
        .await
        .decision;
    assert_eq!(d.outcome, RouteOutcome::Allow, "{d:?}");
    assert_eq!(d.selected_worker_species_id.as_deref(), Some(BACKUP));
    assert_eq!(d.selected_worker_id.as_deref(), Some("x.acme.backup"));
    assert_eq!(
        d.candidate_workers_ranked[0].skip_reason.as_deref(),
        Some("DENY_WORKER_REVOKED")
    );
    assert_eq!(d.candidate_workers_ranked[1].skip_reason, None);
}

#[tokio::test]
async fn no_enrolled_worker_is_denied_no_available_worker() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    let d = route(&f, &acme, input("dev", json!({})), &rules(json!({})))
        .await
        .decision;
    assert_eq!(d.deny_code.as_deref(), Some("DENY_NO_AVAILABLE_WORKER"));
    assert!(d
        .candidate_workers_ranked
        .iter()
        .all(|c| c.skip_reason.as_deref() == Some("no_enrolled_worker")));
}

#[tokio::test]
async fn another_tenants_private_worker_is_a_candidate_only_for_its_signatories() {
    let (f, acme, other) = Fixture::acme_and_other().await;
    enrol(
        &f,
        &other,
        "x.other.sum",
        SPECIES,
        json!({"visibility": "private"}),
    )
    .await;
    let rules = rules(json!({}));
    let d = route(&f, &acme, input("dev", json!({})), &rules)
        .await
        .decision;
    assert_eq!(d.deny_code.as_deref(), Some("DENY_NO_AVAILABLE_WORKER"));
    assert_eq!(
        d.candidate_workers_ranked[0].skip_reason.as_deref(),
        Some("no_enrolled_worker")
    );

    f.sign_for(&other, &[&acme]).await;
    let d = route(&f, &acme, input("dev", json!({})), &rules)
        .await
        .decision;
    assert_eq!(d.outcome, RouteOutcome::Allow, "{d:?}");
    assert_eq!(d.selected_worker_id.as_deref(), Some("x.other.sum"));
    assert_eq!(
        f.chain(&acme).await.len(),
        2,
        "in the requesting tenant's chain"
    );
    assert!(f.chain(&other).await.is_empty());
}

#[tokio::test]
async fn a_worker_missing_a_required_control_is_denied_naming_it() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    enrol(&f, &acme, "x.acme.sum", SPECIES, json!({})).await;
    let rules =
        rules(json!({"required_controls_suggested": ["ctrl.tier.audit", "ctrl.obs.trace"]}));
    let d = route(&f, &acme, input("dev", json!({})), &rules)
        .await
        .decision;
    assert_eq!(
        d.deny_code.as_deref(),
        Some("DENY_MISSING_REQUIRED_CONTROLS")
    );
    let reason = d.deny_reason_if_denied.unwrap();
    assert_eq!(reason.extra["missing"], json!(["ctrl.obs.trace"]));
    assert!(reason.message.contains("ctrl.obs.trace"));
}

#[tokio::test]
async fn restricted_data_in_prod_goes_only_to_a_worker_whose_egress_the_tenant_allows() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    enrol(
        &f,
        &acme,
        "x.acme.sum",
        SPECIES,
        json!({
            "max_data_label": "RESTRICTED",
            "privilege_envelope": {"network_egress": "allowlisted",
                                   "egress": {"allowlist": ["api.example.com"]}},
        }),
    )
    .await;
    let rules = rules(json!({}));
    let restricted = || json!({"data_label": "RESTRICTED"});

    // No allowlist for prod: the declared egress is refused.
    let d = route(&f, &acme, input("prod", restricted()), &rules)
        .await
        .decision;
    assert_eq!(
        d.deny_code.as_deref(),
        Some("DENY_PRIVILEGE_ENVELOPE_VIOLATED")
    );
    assert_eq!(d.privilege_envelope_ok, Some(false));
    let reason = d.deny_reason_if_denied.unwrap();
    assert!(
        reason
            .message
            .contains("egress_denied_no_allowlist_configured"),
        "{}",
        reason.message
    );
    // In dev the envelope is not in question.
    let d = route(&f, &acme, input("dev", restricted()), &rules)
        .await
        .decision;
    assert!(!d.denied, "{:?}", d.deny_reason_if_denied);
    assert_eq!(d.privilege_envelope_ok, Some(true));

    // The tenant allows the destination in prod: the same request passes.
    let mut policy = f.hall.tenant_policy(&acme).await.unwrap().decisions;
    policy.egress_allowlist = [(
        wcp::Env::Prod,
        vec![wcp::EgressDestination::parse("api.example.com").unwrap()],
    )]
    .into();
    f.hall
        .set_tenant_policy(service::tenant_policy::SetTenantPolicy {
            tenant: acme.clone(),
            attestation: None,
            decisions: Some(policy),
        })
        .await
        .unwrap();
    let d = route(&f, &acme, input("prod", restricted()), &rules)
        .await
        .decision;
    assert!(!d.denied, "{:?}", d.deny_reason_if_denied);
    assert_eq!(d.privilege_envelope_ok, Some(true));
    assert_eq!(d.selected_worker_id.as_deref(), Some("x.acme.sum"));
}

#[tokio::test]
async fn an_l7_advisory_tenant_routes_restricted_prod_data_and_a_human_is_notified() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    f.register(
        &acme,
        "x.acme.sum",
        7,
        json!({
            "worker_species_id": SPECIES, "max_data_label": "RESTRICTED",
            "privilege_envelope": {"network_egress": "none"},
        }),
    )
    .await;
    f.attest_card(&acme, "x.acme.sum", &"ab".repeat(32)).await;
    let mut policy = f.hall.tenant_policy(&acme).await.unwrap().decisions;
    policy.l7_advisory = true;
    f.hall
        .set_tenant_policy(service::tenant_policy::SetTenantPolicy {
            tenant: acme.clone(),
            attestation: None,
            decisions: Some(policy),
        })
        .await
        .unwrap();

    let routed = route(
        &f,
        &acme,
        input("prod", json!({"data_label": "RESTRICTED"})),
        &rules(json!({})),
    )
    .await;
    assert!(
        !routed.decision.denied,
        "{:?}",
        routed.decision.deny_reason_if_denied
    );
    assert!(routed.supervision.advisory);
    let opened = routed
        .supervision
        .pending_approval_id
        .clone()
        .expect("an advisory approval");
    assert_eq!(
        routed.receipt.content.approval_id.as_deref(),
        Some(opened.as_str())
    );
    assert_eq!(
        f.pending(&acme).await,
        vec![Uuid::parse_str(&opened).unwrap()]
    );

    // A dry run is decided alike and notifies no one.
    let dry = route(
        &f,
        &acme,
        input("prod", json!({"data_label": "RESTRICTED", "dry_run": true})),
        &rules(json!({})),
    )
    .await;
    assert!(!dry.decision.denied && dry.supervision.pending_approval_id.is_none());
    assert_eq!(f.pending(&acme).await.len(), 1);
}

#[tokio::test]
async fn an_over_threshold_blast_is_denied_in_dev_and_asks_a_human_in_prod_whose_approval_lets_it_through(
) {
    let (f, acme, _) = Fixture::acme_and_other().await;
    enrol(&f, &acme, "x.acme.sum", SPECIES, json!({})).await;
    let rules = rules(json!({}));

    // Worker 5 + the chain's earlier 30 = 35 > dev's 25.
    let d = route(&f, &acme, input("dev", json!({"blast_score": 30})), &rules)
        .await
        .decision;
    assert_eq!(d.deny_code.as_deref(), Some("DENY_BLAST_RADIUS_EXCEEDED"));
    assert_eq!(d.blast_score, Some(35));
    assert_eq!(d.blast_gate_passed, Some(false));

    // Worker 5 + 6 = 11 > prod's 10: a human decides.
    let asked = input("prod", json!({"blast_score": 6}));
    let routed = route(&f, &acme, asked.clone(), &rules).await;
    assert_eq!(routed.decision.outcome, RouteOutcome::RequireHuman);
    assert_eq!(
        routed.decision.deny_code.as_deref(),
        Some("DENY_REQUIRES_HUMAN_APPROVAL")
    );
    let pending: Uuid = routed
        .supervision
        .pending_approval_id
        .as_deref()
        .expect("an approval is opened")
        .parse()
        .unwrap();
    assert_eq!(f.pending(&acme).await, [pending]);

    f.hall
        .resolve_approval(ResolveCommand {
            tenant: acme.clone(),
            approval: pending,
            answer: Answer::Approve,
            by: "alice".into(),
            note: None,
        })
        .await
        .unwrap();
    let mut again = asked.clone();
    again.approval_id = Some(pending.to_string());
    let routed = route(&f, &acme, again.clone(), &rules).await;
    assert_eq!(
        routed.decision.outcome,
        RouteOutcome::Allow,
        "{:?}",
        routed.decision
    );
    assert_eq!(
        routed.receipt.content.approval_id.as_deref(),
        Some(pending.to_string().as_str())
    );
    // Used once.
    let routed = route(&f, &acme, again, &rules).await;
    assert_eq!(routed.decision.outcome, RouteOutcome::RequireHuman);
    assert_eq!(f.chain(&acme).await.len(), 4);
}

#[tokio::test]
async fn a_dry_run_is_receipted_as_one_and_opens_no_approval() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    enrol(&f, &acme, "x.acme.sum", SPECIES, json!({})).await;
    let rules = rules(json!({"escalation": {"policy_gate": true, "human_required_default": true}}));
    let routed = route(&f, &acme, input("prod", json!({"dry_run": true})), &rules).await;
    assert!(routed.decision.dry_run);
    assert_eq!(routed.decision.outcome, RouteOutcome::RequireHuman);
    assert!(routed.supervision.pending_approval_id.is_none());
    assert!(f.pending(&acme).await.is_empty());
    let chain = f.chain(&acme).await;
    assert!(chain[0].content.dry_run);
}

#[tokio::test]
async fn the_decisions_telemetry_is_stored_and_read_back_by_correlation_id() {
    let (f, acme, other) = Fixture::acme_and_other().await;
    enrol(&f, &acme, "x.acme.sum", SPECIES, json!({})).await;
    let i = input("dev", json!({}));
    let correlation = i.correlation_id.clone();
    let routed = route(&f, &acme, i, &rules(json!({}))).await;
    let limit = wcp::PageLimit::parse(None, wcp::PageSize::ROUTE_EVENTS).unwrap();
    let events = f
        .hall
        .route_events(&acme, &correlation, limit)
        .await
        .unwrap();
    let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "evt.os.task.routed",
            "evt.os.worker.selected",
            "evt.os.policy.gated"
        ]
    );
    assert!(events
        .iter()
        .all(|e| e.decision_id.to_string() == routed.decision.decision_id));
    // Rebuilt from the receipt and the stored row: what the answer said.
    let answered = routed.decision.telemetry_envelopes.unwrap().to_values();
    assert_eq!(
        events.into_iter().map(|e| e.envelope).collect::<Vec<_>>(),
        answered
    );
    // Another tenant's query finds nothing.
    assert!(f
        .hall
        .route_events(&other, &correlation, limit)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn the_same_state_and_input_give_the_same_decision() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    enrol(&f, &acme, "x.acme.b", SPECIES, json!({})).await;
    enrol(&f, &acme, "x.acme.a", SPECIES, json!({})).await;
    let rules = rules(json!({}));
    let i = input("dev", json!({}));
    let strip = |r: Routed| {
        let mut v = serde_json::to_value(r.decision).unwrap();
        for k in ["decision_id", "timestamp"] {
            v[k] = Value::Null;
        }
        for e in v["telemetry_envelopes"].as_array_mut().unwrap() {
            e["decision_id"] = Value::Null;
            e["timestamp"] = Value::Null;
        }
        v
    };
    let a = strip(route(&f, &acme, i.clone(), &rules).await);
    let b = strip(route(&f, &acme, i, &rules).await);
    assert_eq!(a, b);
    assert_eq!(a["selected_worker_id"], "x.acme.a", "by worker_id");
}

#[tokio::test]
async fn a_foreign_tenant_is_refused_before_any_receipt() {
    let (f, acme, other) = Fixture::acme_and_other().await;
    let refused = f
        .hall
        .route_with_rules(
            key_of(&other),
            RouteCommand {
                input: input("dev", json!({})),
                tenant: acme.clone(),
                default_label: false,
            },
            Some(&rules(json!({}))),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, RouteError::Tenant(DecideError::Forbidden { .. })),
        "{refused:?}"
    );
    assert!(f.chain(&acme).await.is_empty());
}
