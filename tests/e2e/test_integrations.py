"""The no-code integrations (n8n, Zapier, Langflow) call `POST /api/route`
with `requests`, as their docs describe: without `data_label` or with
`CONFIDENTIAL`, and read `decision_id`, `allowed`, `outcome`, `reason`,
`artifact_hash` and `selected_worker_species_id` from the answer."""

import hashlib

import requests

PACKAGE_HASH = hashlib.sha256(b"the summarizer package").hexdigest()


def _route(registry, token, body):
    resp = requests.post(f"{registry.base}/api/route",
                         headers={"Authorization": f"Bearer {token}"}, json=body, timeout=5)
    return resp.status_code, resp.json()


def test_integration_bodies_get_the_fields_their_nodes_read(registry):
    key = registry.tenant_key("org.nocode", ["workers:write", "decisions:write", "read"])
    status, worker = registry.call("POST", "/api/v1/workers", key, {
        "name": "summarizer", "namespace": "x.nocode", "worker_species_id": "wrk.doc.summarizer",
        "capabilities": ["cap.doc.summarize.v1"], "max_data_label": "RESTRICTED"})
    assert status == 201, worker
    status, _ = registry.call("PUT", "/api/v1/workers/x.nocode.summarizer/attest", key,
                              {"sha256": PACKAGE_HASH, "ai_generated": False})
    assert status == 200
    status, session = registry.call("POST", "/api/v1/auth/token", key)
    assert status == 200
    token = session["token"]

    n8n = {"capability_id": "cap.doc.summarize.v1", "worker_id": "x.nocode.summarizer",
           "env": "dev", "tenant_id": "org.nocode"}
    zapier = {**n8n, "data_label": "CONFIDENTIAL"}
    for body in (n8n, zapier):
        status, d = _route(registry, token, body)
        assert status == 200, d
        assert d["denied"] is False and d["allowed"] is True and d["outcome"] == "ALLOW", d
        assert d["decision_id"] == d["id"]
        assert d["reason"]
        assert d["artifact_hash"] == PACKAGE_HASH
        assert d["selected_worker_species_id"] == "wrk.doc.summarizer"
        # An omitted label and CONFIDENTIAL are both decided, and receipted, as RESTRICTED.
        assert d["data_label"] == "RESTRICTED" and d["receipt"]["data_label"] == "RESTRICTED"

    # A capability the worker does not declare: a deny the nodes can branch on.
    status, d = _route(registry, token, {**n8n, "capability_id": "cap.admin.delete.v1"})
    assert status == 200, d
    assert d["allowed"] is False and d["outcome"] == "DENY"
    assert d["reason"] == d["deny_reason"] and "cap.admin.delete.v1" in d["reason"]

    # Another tenant's id is refused, and the message says what to send instead.
    status, err = _route(registry, token, {**n8n, "tenant_id": "org.someone-else"})
    assert status == 403
    assert "omit tenant_id or send your own (org.nocode)" in err["error"]["message"]
