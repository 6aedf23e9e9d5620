"""The Go and TypeScript SDKs' attestation (`PUT /api/v1/workers/{id}/attest`)
sent over HTTP as those clients send it (registry API contract, "Go and
TypeScript SDKs: attestation"): `package_hash` for `sha256`,
`ai_session_fingerprint` for `ai_session_id`, `worker_species_id`,
`worker_version` and `manifest_path`; the TypeScript client sends no
`worker_id` and no `Accept` header. Both accept 200 or 201 and read
`worker_id`, `namespace`, `package_hash`, `attested_at` and `status`.
"""

import hashlib

import pytest

httpx = pytest.importorskip("httpx", reason="the SDK-shaped requests are sent with httpx")

SCOPES = ["admin", "workers:write", "decisions:write", "read"]
WORKER = "x.gots.summarizer"
SPECIES = "wrk.doc.summarizer"


@pytest.fixture(scope="module")
def api_key(registry):
    key = registry.tenant_key("org.gots", SCOPES)
    status, worker = registry.call("POST", "/api/v1/workers", key, {
        "worker_id": WORKER, "worker_species_id": SPECIES,
        "capabilities": ["cap.doc.summarize"]})
    assert status == 201, worker
    return key


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def assert_what_the_sdks_read(status: int, answer: dict, package_hash: str) -> None:
    assert status in (200, 201), answer
    assert answer["worker_id"] == WORKER
    assert answer["namespace"] == "x.gots"
    assert answer["package_hash"] == package_hash
    assert answer["status"] == "attested"
    assert isinstance(answer["attested_at"], str) and answer["attested_at"]


def test_the_go_sdk_body_is_attested_and_read_back(registry, api_key):
    package = sha("go package")
    body = {"worker_id": WORKER, "worker_species_id": SPECIES, "package_hash": package,
            "worker_version": "1.4.2", "manifest_path": "workers/summarizer/manifest.json",
            "ai_generated": True, "ai_service": "claude", "ai_model": "claude-x",
            "ai_session_fingerprint": "go-session"}
    with httpx.Client(base_url=registry.base, timeout=10) as go:
        r = go.put(f"/api/v1/workers/{WORKER}/attest", json=body,
                   headers={"Authorization": f"Bearer {api_key}",
                            "User-Agent": "Go-http-client/1.1"})
    answer = r.json()
    assert_what_the_sdks_read(r.status_code, answer, package)
    assert answer["worker_species_id"] == SPECIES
    assert answer["worker_version"] == "1.4.2"
    assert answer["manifest_path"] == "workers/summarizer/manifest.json"
    status, verify = registry.call("GET", f"/api/v1/verify/{WORKER}")
    assert status == 200 and verify["current_hash"] == package, verify


def test_the_typescript_sdk_body_without_worker_id_or_accept_is_attested(registry, api_key):
    package = sha("ts package")
    body = {"worker_species_id": SPECIES, "package_hash": package, "worker_version": "0.3.0",
            "ai_generated": False}
    with httpx.Client(base_url=registry.base, timeout=10) as ts:
        del ts.headers["accept"]
        request = ts.build_request("PUT", f"/api/v1/workers/{WORKER}/attest", json=body,
                                   headers={"Authorization": f"Bearer {api_key}"})
        assert "accept" not in request.headers
        r = ts.send(request)
    assert_what_the_sdks_read(r.status_code, r.json(), package)


def test_a_package_hash_that_disagrees_with_sha256_is_refused_naming_both(registry, api_key):
    status, err = registry.call("PUT", f"/api/v1/workers/{WORKER}/attest", api_key,
                                {"sha256": sha("one"), "package_hash": sha("two")})
    assert status == 400, err
    assert "sha256" in err["error"]["message"] and "package_hash" in err["error"]["message"]


def test_another_species_than_the_registered_one_is_refused_naming_both(registry, api_key):
    status, err = registry.call("PUT", f"/api/v1/workers/{WORKER}/attest", api_key,
                                {"package_hash": sha("three"),
                                 "worker_species_id": "wrk.doc.translator"})
    assert status == 400, err
    assert "wrk.doc.translator" in err["error"]["message"] and SPECIES in err["error"]["message"]
