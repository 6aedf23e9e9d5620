"""The seed SDK page's flows, sent as HTTP exactly as it describes them."""

import os

import requests


def test_quick_start_register_then_decide_then_history(registry):
    key = registry.tenant_key("org.acme", ["workers:write", "decisions:write", "read"])
    status, worker = registry.call("POST", "/api/v1/workers", key, {
        "name": "my-agent", "namespace": "x.myagent",
        "capabilities": ["cap.data.read.v1", "cap.report.generate.v1"], "policy_tier": 2})
    assert status == 201, worker
    assert worker["id"].startswith("wrk_")
    assert worker["namespace"] == "x.myagent"

    status, decision = registry.call("POST", "/api/v1/decisions", key, {
        "worker_id": worker["id"], "capability": "cap.data.read.v1", "env": "dev",
        "data_label": "PUBLIC", "tenant_id": "org.acme"})
    assert status == 200, decision
    assert decision["denied"] is False
    assert len(decision["proof"]) == 64

    # The decorator: same call without tenant_id, PYHALL_ENV defaulting to dev.
    status, decorated = registry.call("POST", "/api/v1/decisions", key, {
        "worker_id": worker["id"], "capability": "cap.data.read.v1",
        "env": os.environ.get("PYHALL_ENV", "dev"), "data_label": "PUBLIC"})
    assert status == 200 and decorated["denied"] is False

    # The FastAPI middleware: prod, INTERNAL — allowed at L2 (no attestation needed below L3).
    status, middleware = registry.call("POST", "/api/v1/decisions", key, {
        "worker_id": worker["id"], "capability": "cap.report.generate.v1",
        "env": "prod", "data_label": "INTERNAL"})
    assert status == 200 and middleware["denied"] is False

    status, history = registry.call("GET", f"/api/v1/decisions?worker_id={worker['id']}&limit=20", key)
    assert status == 200
    assert [d["capability_id"] for d in history["decisions"]] == [
        "cap.report.generate.v1", "cap.data.read.v1", "cap.data.read.v1"]
    for d in history["decisions"]:
        assert d["decided_at"] and d["denied"] is False


def test_local_hall_server_route_call(registry):
    key = registry.tenant_key("org.local", ["workers:write", "decisions:write"])
    status, worker = registry.call("POST", "/api/v1/workers", key, {
        "name": "w", "namespace": "x.local", "capabilities": ["cap.data.read.v1"]})
    assert status == 201
    status, session = registry.call("POST", "/api/v1/auth/token", key)
    assert status == 200

    # As the seed writes it.
    token = session["token"]
    url = registry.base
    resp = requests.post(
        f"{url}/api/route",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "capability_id": "cap.data.read.v1",
            "worker_id": worker["id"],
            "env": "dev",
            "data_label": "PUBLIC",
            "tenant_id": "org.local",
        },
        timeout=5,
    )
    resp.raise_for_status()
    decision = resp.json()
    assert decision["denied"] is False

    resp = requests.post(f"{url}/api/route", headers={"Authorization": f"Bearer {token}"}, json={
        "capability_id": "cap.admin.delete.v1", "worker_id": worker["id"], "env": "dev",
        "data_label": "PUBLIC", "tenant_id": "org.local"}, timeout=5)
    resp.raise_for_status()
    decision = resp.json()
    assert decision["denied"] is True
    assert "cap.admin.delete.v1" in decision.get("deny_reason", "")


def test_account_standing_for_the_local_hall(registry):
    key = registry.tenant_key("org.standing", ["read"])
    status, standing = registry.call("GET", "/api/account/standing", key)
    assert status == 200
    assert standing["standing"] in ("ok", "grace")
    status, _ = registry.call("GET", "/api/account/standing")
    assert status == 401
