//! Each answer hallctl reads, as the registry sends it, survives a trip
//! through its type unchanged: no field is dropped, renamed, added or
//! reformatted (times stay RFC 3339 with `Z`, absent optional fields stay
//! absent). A shape that drifts from what the server writes fails here.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use api_types::api_keys::{ApiKeyList, CreateApiKey, CreatedApiKey};
use api_types::approvals::{ApprovalView, PendingApprovals, ResolveApproval};
use api_types::attestations::{AttestationStatusView, AttestationView};
use api_types::audit::ReceiptExport;
use api_types::auth::{Credential, TokenResponse, WhoAmI};
use api_types::banlist::{BanEntry, BanHistory, BanRecord, ConfirmedBan, ReportHash, ReportList};
use api_types::catalog::ImportResult;
use api_types::decisions::{DecisionPage, DecisionView};
use api_types::health::{HealthResponse, ReadyResponse};
use api_types::keys::{KeyList, RotatedKey};
use api_types::namespaces::{
    AddNamespaceKey, ClaimNamespace, NamespaceKeyList, NamespaceKeyView, NamespaceList,
    NamespaceStatus, NamespaceView,
};
use api_types::tenants::{CreateTenant, TenantList, TenantView};
use api_types::workers::{WorkerPage, WorkerView};
use api_types::ErrorBody;

/// Reads `answer` as a `T` and writes it back: the JSON must be the same.
fn round_trip<T: Serialize + DeserializeOwned>(answer: Value) -> T {
    let typed: T = serde_json::from_value(answer.clone())
        .unwrap_or_else(|e| panic!("{} does not read {answer}: {e}", std::any::type_name::<T>()));
    let written = serde_json::to_value(&typed).expect("serializes");
    assert_eq!(written, answer, "{}", std::any::type_name::<T>());
    typed
}

const AT: &str = "2026-11-25T20:06:22.123456Z";
const LATER: &str = "2026-11-26T08:00:00Z";
const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn receipt(outcome: &str, deny_code: Value) -> Value {
    json!({
        "receipt_id": "0193a1b2-c3d4-7e5f-8071-8293a4b5c6d7",
        "spec_version": "0.1",
        "tenant_id": "org.acme",
        "correlation_id": "c-1",
        "decided_at": AT,
        "worker_id": "x.acme.agent",
        "capability_id": "cap.data.read.v1",
        "env": "dev",
        "data_label": "PUBLIC",
        "outcome": outcome,
        "deny_code": deny_code,
        "tier": 2,
        "policy_version": "p1",
        "controls_verified": ["ctrl.audit.v1"],
        "request_hash": null,
        "dry_run": false,
        "prev_receipt_hash": HASH,
        "signing_key_id": "rk_1",
        "receipt_hash": HASH,
        "signature": "c2lnbmF0dXJl"
    })
}

fn decision(denied: bool) -> Value {
    let mut d = json!({
        "id": "0193a1b2-c3d4-7e5f-8071-8293a4b5c6d7",
        "decided_at": AT,
        "worker_id": "x.acme.agent",
        "capability_id": "cap.data.read.v1",
        "env": "dev",
        "data_label": "PUBLIC",
        "tenant_id": "org.acme",
        "correlation_id": "c-1",
        "denied": denied,
        "deny_code": null,
        "deny_reason": null,
        "tier": 2,
        "proof": HASH,
        "leaf_index": 41,
        "receipt": receipt("ALLOW", Value::Null),
        "supervisor_required": false,
        "decision_id": "0193a1b2-c3d4-7e5f-8071-8293a4b5c6d7",
        "allowed": true,
        "outcome": "ALLOW",
        "reason": "allowed: x.acme.agent may run cap.data.read.v1 in dev on PUBLIC data",
        "artifact_hash": HASH,
        "selected_worker_species_id": "wrk.doc.summarizer"
    });
    if denied {
        d["deny_code"] = json!("DENY_REQUIRES_HUMAN_APPROVAL");
        d["deny_reason"] = json!("a human must approve");
        d["allowed"] = json!(false);
        d["outcome"] = json!("REQUIRE_HUMAN");
        d["reason"] = json!("a human must approve");
        d["receipt"] = receipt("DENY", json!("DENY_REQUIRES_HUMAN_APPROVAL"));
        d["supervisor_required"] = json!(true);
        d["supervisor_level"] = json!("gatekeeper");
        d["pending_approval_id"] = json!("0193a1b2-c3d4-7e5f-8071-8293a4b5c6d8");
        d["approval_expires_at"] = json!(LATER);
        d["escalation_context"] = json!({"why": "prod"});
    }
    d
}

#[test]
fn decisions() {
    let page: DecisionPage =
        round_trip(json!({"decisions": [decision(false), decision(true)], "next_cursor": "cur"}));
    assert!(page.decisions[1].denied);
    let d: DecisionView = round_trip(decision(true));
    assert_eq!(d.supervisor_level.as_deref(), Some("gatekeeper"));
    assert_eq!(
        d.outcome,
        api_types::decisions::DecisionOutcome::RequireHuman
    );
}

fn approval(status: &str, resolved: bool) -> Value {
    json!({
        "id": "0193a1b2-c3d4-7e5f-8071-8293a4b5c6d8",
        "tenant_id": "org.acme",
        "status": status,
        "supervisor_level": "gatekeeper",
        "worker_id": "x.acme.agent",
        "capability_id": "cap.data.read.v1",
        "env": "prod",
        "data_label": "RESTRICTED",
        "reason": "a human must approve",
        "escalation_context": {"blast_score": 12},
        "decision_id": "0193a1b2-c3d4-7e5f-8071-8293a4b5c6d7",
        "correlation_id": "c-1",
        "created_at": AT,
        "expires_at": LATER,
        "resolved_at": if resolved { json!(LATER) } else { Value::Null },
        "resolved_by": if resolved { json!("alice (k1)") } else { Value::Null },
        "resolution_note": null,
        "used_at": null,
        "used_by_decision": null
    })
}

#[test]
fn approvals() {
    round_trip::<PendingApprovals>(json!({"pending": [approval("pending", false)]}));
    let a: ApprovalView = round_trip(approval("approved", true));
    assert_eq!(a.status, "approved");
    round_trip::<ResolveApproval>(json!({
        "approval_id": "0193a1b2-c3d4-7e5f-8071-8293a4b5c6d8",
        "resolution": "approve",
        "note": "checked with the on-call",
        "tenant_id": null
    }));
}

fn tenant(id: &str, operator: bool) -> Value {
    json!({
        "id": id,
        "display_name": "Acme Corp",
        "status": "active",
        "operator": operator,
        "created_at": AT,
        "updated_at": LATER
    })
}

#[test]
fn tenants() {
    round_trip::<TenantList>(
        json!({"tenants": [tenant("org.hall", true), tenant("org.acme", false)]}),
    );
    round_trip::<TenantView>(tenant("org.acme", false));
    round_trip::<CreateTenant>(json!({"id": "org.acme", "display_name": "Acme Corp"}));
}

fn public_key(kid: &str, retired: bool) -> Value {
    json!({
        "kid": kid,
        "public_key": "O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=",
        "algorithm": "Ed25519",
        "status": if retired { "retired" } else { "active" },
        "created_at": AT,
        "retired_at": if retired { json!(LATER) } else { Value::Null }
    })
}

#[test]
fn receipt_keys() {
    round_trip::<KeyList>(json!({"keys": [public_key("rk_2", false), public_key("rk_1", true)]}));
    round_trip::<RotatedKey>(json!({
        "kid": "rk_2",
        "retired_kid": "rk_1",
        "keys": [public_key("rk_2", false), public_key("rk_1", true)]
    }));
}

fn api_key(revoked: bool) -> Value {
    json!({
        "id": "0193a1b2-c3d4-7e5f-8071-8293a4b5c6d9",
        "tenant_id": "org.acme",
        "name": "ci-pipeline",
        "prefix": "phk_Ab12Cd34",
        "scopes": ["decisions:write", "read"],
        "created_at": AT,
        "expires_at": LATER,
        "last_used_at": null,
        "revoked_at": if revoked { json!(LATER) } else { Value::Null }
    })
}

#[test]
fn api_keys() {
    round_trip::<ApiKeyList>(json!({"api_keys": [api_key(false), api_key(true)]}));
    let mut created = api_key(false);
    created["key"] = json!("phk_Ab12Cd34secret");
    let c: CreatedApiKey = round_trip(created);
    assert_eq!(c.api_key.name, "ci-pipeline");
    round_trip::<CreateApiKey>(json!({
        "name": "ci-pipeline",
        "scopes": ["read"],
        "expires_at": null,
        "tenant_id": "org.acme"
    }));
}

fn worker(revoked: bool) -> Value {
    json!({
        "id": "wrk_0193a1b2c3d4e5f60718293a4b5c6d7e",
        "worker_id": "x.acme.agent",
        "namespace": "x.acme",
        "name": "agent",
        "tenant_id": "org.acme",
        "status": if revoked { "revoked" } else { "active" },
        "policy_tier": 3,
        "capabilities": ["cap.data.read.v1"],
        "worker_species_id": "wrk.doc.summarizer",
        "risk_tier": null,
        "allowed_environments": ["dev", "stage"],
        "required_controls": [],
        "currently_implements": ["ctrl.audit.v1"],
        "blast_radius": {"data": 2, "network": 1},
        "blast_score": 3,
        "privilege_envelope": null,
        "owner": "org.acme",
        "contact": null,
        "artifact_hash": HASH,
        "max_data_label": "INTERNAL",
        "visibility": "public",
        "record": {"worker_id": "x.acme.agent", "extra": [1, 2]},
        "created_at": AT,
        "updated_at": AT,
        "revoked_at": if revoked { json!(LATER) } else { Value::Null }
    })
}

#[test]
fn workers() {
    round_trip::<WorkerPage>(
        json!({"workers": [worker(false), worker(true)], "next_cursor": null}),
    );
    let w: WorkerView = round_trip(worker(false));
    assert_eq!(w.policy_tier, 3);
}

#[test]
fn attestations() {
    round_trip::<AttestationView>(json!({
        "id": "att_0193a1b2c3d4e5f60718293a4b5c6d7e",
        "worker_id": "x.acme.agent",
        "namespace": "x.acme",
        "sha256": HASH,
        "package_hash": HASH,
        "status": "attested",
        "reason": null,
        "kind": "card",
        "signed_by": "nsk_3f2a9c1d0b8e7a65",
        "attested_at": AT,
        "created_at": AT,
        "label": null,
        "ai_generated": true,
        "ai_service": "svc",
        "ai_model": null,
        "worker_species_id": "wrk.doc.summarizer",
        "worker_version": "1.2.0",
        "manifest_path": null
    }));
    round_trip::<AttestationStatusView>(json!({
        "worker_id": "x.acme.agent",
        "status": "none",
        "artifact_hash": null,
        "attested_at": null,
        "signed_by": null,
        "reason": "no attestation has been submitted"
    }));
}

fn namespace_key(revoked: bool) -> Value {
    json!({
        "kid": "nsk_3f2a9c1d0b8e7a65",
        "namespace": "x.acme",
        "public_key": "O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=",
        "label": "release signing key 2026",
        "created_at": AT,
        "revoked_at": if revoked { json!(LATER) } else { Value::Null }
    })
}

#[test]
fn namespaces() {
    // `reason` is left out when there is none, and stays out.
    round_trip::<NamespaceStatus>(json!({"namespace": "x.alice", "status": "available"}));
    round_trip::<NamespaceStatus>(
        json!({"namespace": "x.bob", "status": "taken", "reason": "held by another tenant"}),
    );
    let claim = json!({
        "namespace": "x.acme",
        "status": "pending",
        "tenant_id": "org.acme",
        "reason": null,
        "created_at": AT,
        "updated_at": AT
    });
    round_trip::<NamespaceView>(claim.clone());
    let mut reserved = claim.clone();
    reserved["tenant_id"] = Value::Null;
    reserved["status"] = json!("reserved");
    round_trip::<NamespaceList>(json!({"namespaces": [claim, reserved]}));
    round_trip::<NamespaceKeyView>(namespace_key(true));
    round_trip::<NamespaceKeyList>(json!({"keys": [namespace_key(false), namespace_key(true)]}));
    round_trip::<ClaimNamespace>(json!({"namespace": "x.acme"}));
    round_trip::<AddNamespaceKey>(
        json!({"public_key": "O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=", "label": "k"}),
    );
}

fn ban_entry() -> Value {
    json!({
        "sha256": HASH,
        "reason": "malware",
        "reported_at": AT,
        "source": "community",
        "review_status": "approved"
    })
}

fn report(status: &str) -> Value {
    json!({
        "id": "rpt_0193a1b2c3d4e5f60718293a4b5c6d7e",
        "sha256": HASH,
        "reason": "malware",
        "evidence_url": "https://example.org/evidence",
        "source": "community",
        "reporter_tenant": "org.acme",
        "status": status,
        "reviewed_at": null,
        "review_note": null,
        "created_at": AT
    })
}

#[test]
fn ban_list() {
    round_trip::<Vec<BanEntry>>(json!([ban_entry()]));
    round_trip::<ReportList>(json!({"reports": [report("pending")]}));
    round_trip::<ConfirmedBan>(json!({"report": report("confirmed"), "ban": ban_entry()}));
    let record = json!({
        "sha256": HASH,
        "reason": "malware",
        "source": "operator",
        "report_id": null,
        "reported_at": AT,
        "confirmed_at": AT,
        "lifted_at": LATER,
        "lift_reason": "false positive"
    });
    round_trip::<BanRecord>(record.clone());
    let h: BanHistory = round_trip(json!({"sha256": HASH, "banned": false, "history": [record]}));
    assert!(!h.banned);
    round_trip::<ReportHash>(json!({"sha256": HASH, "reason": "malware", "evidence_url": null}));
}

#[test]
fn auth() {
    let who: WhoAmI = round_trip(json!({
        "tenant_id": "org.acme",
        "key_id": "0193a1b2-c3d4-7e5f-8071-8293a4b5c6d9",
        "key_name": "ci-pipeline",
        "scopes": ["read"],
        "operator": false,
        "credential": "session",
        "expires_at": LATER
    }));
    assert_eq!(who.credential, Credential::Session);
    for c in [Credential::ApiKey, Credential::Session] {
        assert_eq!(
            serde_json::to_value(c).expect("serializes"),
            json!(c.as_str())
        );
    }
    round_trip::<TokenResponse>(json!({
        "token": "eyJ.x.y",
        "token_type": "Bearer",
        "expires_at": LATER,
        "tenant_id": "org.acme",
        "scopes": ["read", "decisions:write"]
    }));
}

#[test]
fn receipt_export_catalog_health_and_errors() {
    round_trip::<ReceiptExport>(json!({
        "receipts": [receipt("ALLOW", Value::Null), receipt("DENY", json!("DENY_UNKNOWN_WORKER"))],
        "next_after": 2
    }));
    round_trip::<ImportResult>(json!({"inserted": 3, "updated": 1, "catalog_version": null}));
    round_trip::<HealthResponse>(json!({"ok": true, "version": "0.1.0"}));
    round_trip::<ReadyResponse>(json!({
        "ready": true,
        "database": "ok",
        "cache": "ok",
        "bans": "subscribed",
        "facts": "direct",
        "chains": {"state": "checking", "receipts": 10, "verified": 7, "broken_chains": 0,
                   "checked_at": "2026-11-26T07:00:00.000Z"}
    }));
    round_trip::<ReadyResponse>(json!({
        "ready": true,
        "database": "ok",
        "cache": "ok",
        "bans": "subscribed",
        "facts": "direct",
        "chains": {"state": "starting", "receipts": 0, "verified": 0, "broken_chains": 0}
    }));
    round_trip::<ErrorBody>(json!({"error": {"code": "not_found", "message": "no route"}}));
}
