"""The router end to end, as its clients call it: our Python client
(`hall.rules`, `hall.route`, receipts verified offline), `hallctl`-free, and
the PyHall MCP server's body on `POST /api/route` (no `worker_id`), with
`requests` as the MCP server sends it."""

from __future__ import annotations

import hashlib
import uuid

import pytest
import requests

from hall_registry import Hall, RouteDecision

SCOPES = ["workers:write", "decisions:write", "read", "admin"]
RULES = {"rules": [
    {"rule_id": "rr_summarize_prod",
     "match": {"capability_id": "cap.doc.summarize", "env": {"in": ["prod", "edge"]}},
     "decision": {"candidate_workers_ranked": [{"worker_species_id": "wrk.doc.summarizer"}],
                  "escalation": {"human_required_default": True}}},
    {"rule_id": "rr_summarize",
     "match": {"capability_id": "cap.doc.summarize"},
     "decision": {"candidate_workers_ranked": [{"worker_species_id": "wrk.doc.missing"},
                                               {"worker_species_id": "wrk.doc.summarizer"}],
                  "required_controls_suggested": ["ctrl.obs.audit-log-append-only"]}},
]}
PACKAGE_HASH = hashlib.sha256(b"the routed summarizer").hexdigest()


@pytest.fixture(scope="module")
def hall(registry):
    key = registry.tenant_key("org.routed", SCOPES)
    with Hall(key, registry.base) as client:
        client.workers.register(name="summarizer", namespace="x.routed",
                                worker_species_id="wrk.doc.summarizer",
                                capabilities=["cap.doc.summarize"],
                                allowed_environments=["dev", "prod"], max_data_label="INTERNAL",
                                currently_implements=["ctrl.obs.audit-log-append-only"])
        status, body = registry.call("PUT", "/api/v1/workers/x.routed.summarizer/attest", key,
                                     {"sha256": PACKAGE_HASH, "ai_generated": False})
        assert status == 200, body
        yield client


def test_the_python_client_stores_rules_and_routes_by_them(hall):
    version = hall.rules.put(RULES, comment="e2e")
    assert version.active and version.rule_count == 2
    d = hall.route("cap.doc.summarize", "dev", data_label="INTERNAL")
    assert isinstance(d, RouteDecision)
    assert d.allowed and d.outcome == "ALLOW", d.deny_reason_if_denied
    assert (d.matched_rule_id, d.selected_worker_id) == ("rr_summarize", "x.routed.summarizer")
    assert d.rules_version == str(version.version)
    assert d.artifact_hash == PACKAGE_HASH
    assert d.candidate_workers_ranked[0]["skip_reason"] == "no_enrolled_worker"
    assert [e["event_id"] for e in d.telemetry_envelopes] == [
        "evt.os.task.routed", "evt.os.worker.selected", "evt.os.policy.gated"]
    # The receipt is format 3, carries the route, and verifies offline.
    assert d.receipt["receipt_version"] == 3 and d.receipt["matched_rule_id"] == "rr_summarize"
    assert hall.audit.verify(d)

    # Production asks a human (the first rule), and says which approval.
    d = hall.route("cap.doc.summarize", "prod", data_label="INTERNAL")
    assert (d.denied, d.outcome, d.deny_code) == (True, "REQUIRE_HUMAN", "DENY_REQUIRES_HUMAN_APPROVAL")
    assert d.pending_approval_id
    hall.approvals.approve(d.pending_approval_id, note="e2e: approved")
    again = hall.route("cap.doc.summarize", "prod", data_label="INTERNAL",
                       approval_id=d.pending_approval_id)
    assert again.allowed, again.deny_reason_if_denied

    # Roll back to no prod rule: version 1 again after a second version.
    second = hall.rules.put({"rules": RULES["rules"][1:]})
    assert hall.route("cap.doc.summarize", "prod", data_label="INTERNAL").allowed
    hall.rules.activate(version.version)
    back = hall.route("cap.doc.summarize", "prod", data_label="INTERNAL")
    assert back.outcome == "REQUIRE_HUMAN" and back.rules_version == str(version.version)
    assert second.version == version.version + 1


def test_the_mcp_servers_body_without_a_worker_is_routed(registry, hall):
    hall.rules.put(RULES)
    token = hall.auth.token().token
    body = {"capability_id": "cap.doc.summarize", "env": "dev", "data_label": "PUBLIC",
            "tenant_id": "org.routed", "tenant_risk": "low", "qos_class": "P2",
            "correlation_id": str(uuid.uuid4()), "request": {}}
    resp = requests.post(f"{registry.base}/api/route", json=body,
                         headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert resp.status_code == 200, resp.text
    d = resp.json()
    assert d["denied"] is False and d["allowed"] is True and d["outcome"] == "ALLOW"
    assert d["selected_worker_species_id"] == "wrk.doc.summarizer"
    assert d["matched_rule_id"] == "rr_summarize" and d["artifact_hash"] == PACKAGE_HASH
    # What the MCP server lists besides: the workers and the recent dispatches.
    workers = requests.get(f"{registry.base}/api/workers",
                           headers={"Authorization": f"Bearer {token}"}, timeout=5).json()
    assert [w["worker_species_id"] for w in workers["workers"]] == ["wrk.doc.summarizer"]
    recent = requests.get(f"{registry.base}/api/dispatches/recent",
                          headers={"Authorization": f"Bearer {token}"}, timeout=5).json()
    assert recent["dispatches"][0]["decision_id"] == d["decision_id"]
    # The telemetry of that dispatch, by its correlation id.
    events = requests.get(f"{registry.base}/api/v1/telemetry/events",
                          params={"correlation_id": body["correlation_id"]},
                          headers={"Authorization": f"Bearer {token}"}, timeout=5).json()
    assert [e["event_id"] for e in events["events"]] == [
        "evt.os.task.routed", "evt.os.worker.selected", "evt.os.policy.gated"]
