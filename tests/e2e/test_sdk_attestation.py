"""The Python client's offline crypto (clients/python: hall_registry.card,
.package, .verify, ._canonical) against the real server and `hallctl`:
cards signed in Python are attested, canonical JSON computed in Python is
what the server hashes, and real receipt chains verify offline, while every
kind of tampering is named.

Needs `cryptography` and the client's runtime dependency `httpx` in the test
environment (`pip install './clients/python[verify]'`); skipped otherwise.
HALLCTL_BIN (set by scripts/test) enables the comparisons with `hallctl`.
"""

import base64
import copy
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("cryptography", reason="the SDK's crypto needs 'cryptography' (hall-registry[verify])")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python"))
pytest.importorskip("hall_registry.card", reason="the hall_registry package cannot be imported")

from hall_registry._canonical import canonical_json  # noqa: E402
from hall_registry.card import (  # noqa: E402
    build_card,
    generate_key_file,
    key_proof,
    public_key_and_kid,
    sign_card,
)
from hall_registry.errors import ProofError  # noqa: E402
from hall_registry.package import package_hash  # noqa: E402
from hall_registry.verify import published_keys, verify_chain, verify_receipt  # noqa: E402

HALLCTL = os.environ.get("HALLCTL_BIN")
needs_hallctl = pytest.mark.skipif(not HALLCTL or not os.access(HALLCTL, os.X_OK),
                                   reason="HALLCTL_BIN is not set to a built hallctl")
SCOPES = ["admin", "workers:write", "decisions:write", "read"]


def make_package(root: Path) -> Path:
    for rel, data in {"worker.py": b"print('summarize')\n", "données/é.txt": "ü".encode(),
                      "lib/util.py": b"", "manifest.json": b"{}"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def tenant_with_namespace_and_key(registry, tenant: str, namespace: str, key_path: Path):
    """A tenant key, its claimed namespace and a namespace key made in Python."""
    api_key = registry.tenant_key(tenant, SCOPES)
    status, claim = registry.call("POST", "/api/v1/namespaces", api_key, {"namespace": namespace})
    assert status in (200, 201), claim
    public_b64, kid = generate_key_file(key_path)
    # Without a proof of possession (or with one made for another tenant) the
    # registry refuses the key; with the one Python makes it takes it.
    for proof in [None, key_proof(key_path, "org.someoneelse", namespace)]:
        body = {"public_key": public_b64, "label": "sdk test"}
        if proof is not None:
            body["proof"] = proof
        status, refused = registry.call("POST", f"/api/v1/namespaces/{namespace}/keys", api_key, body)
        assert status == 400 and refused["error"]["code"] == "invalid_proof", refused
    status, registered = registry.call("POST", f"/api/v1/namespaces/{namespace}/keys", api_key,
                                       {"public_key": public_b64, "label": "sdk test",
                                        "proof": key_proof(key_path, tenant, namespace)})
    assert status == 201, registered
    assert registered["kid"] == kid and registered["public_key"] == public_b64
    return api_key, kid


def register_worker(registry, api_key: str, worker_id: str) -> dict:
    status, worker = registry.call("POST", "/api/v1/workers", api_key, {
        "worker_id": worker_id, "worker_species_id": "wrk.doc.summarizer",
        "capabilities": ["cap.doc.summarize", "cap.doc.classify"]})
    assert status == 201, worker
    status, fetched = registry.call("GET", f"/api/v1/workers/{worker['id']}", api_key)
    assert status == 200, fetched
    return fetched


def submit(registry, api_key: str, worker: dict, card: dict, signature: str):
    return registry.call("POST", f"/api/v1/workers/{worker['id']}/attestations", api_key,
                         {"card": card, "signature": signature})


def test_a_card_signed_in_python_is_attested(registry, tmp_path):
    key_path = tmp_path / "signing.key"
    api_key, kid = tenant_with_namespace_and_key(registry, "org.sdkcard", "x.sdkcard", key_path)
    worker = register_worker(registry, api_key, "x.sdkcard.summarizer")
    pkg = make_package(tmp_path / "pkg")
    sha = package_hash(pkg)

    card = build_card(worker, sha, kid, expires_in_days=30)
    assert set(card) == {"worker_id", "worker_species_id", "capabilities", "sha256", "issued_at",
                         "expires_at", "kid"}
    status, attestation = submit(registry, api_key, worker, card, sign_card(card, key_path))
    assert status in (200, 201), attestation
    assert attestation["status"] == "attested", attestation
    assert attestation["signed_by"] == kid and attestation["sha256"] == sha

    status, current = registry.call("GET", f"/api/v1/workers/{worker['id']}/attestation", api_key)
    assert status == 200 and current["status"] == "attested"
    assert current["artifact_hash"] == sha and current["signed_by"] == kid

    # The server really checks the Python signature: a card changed after
    # signing, or signed by a key the namespace does not hold, is denied.
    other_pkg = tmp_path / "other"
    other_pkg.mkdir()
    (other_pkg / "x").write_bytes(b"other")
    changed = {**card, "sha256": package_hash(other_pkg)}
    status, denied = submit(registry, api_key, worker, changed, sign_card(card, key_path))
    assert status in (200, 201) and denied["status"] == "denied", denied
    assert "signature" in denied["reason"], denied
    stranger = tmp_path / "stranger.key"
    generate_key_file(stranger)
    status, denied = submit(registry, api_key, worker, card, sign_card(card, stranger))
    assert denied["status"] == "denied" and "signature" in denied["reason"], denied


@needs_hallctl
def test_hallctl_keys_and_attest_agree_with_python(registry, tmp_path):
    api_key = registry.tenant_key("org.sdkctl", SCOPES)
    status, _ = registry.call("POST", "/api/v1/namespaces", api_key, {"namespace": "x.sdkctl"})
    assert status in (200, 201)
    key_path = tmp_path / "hallctl.key"
    done = subprocess.run([HALLCTL, "keygen", "--out", str(key_path)], capture_output=True, text=True,
                          check=True)
    printed = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in done.stdout.splitlines())}
    public_b64, kid = public_key_and_kid(key_path)
    assert (public_b64, kid) == (printed["Public key"], printed["Key id"])
    status, registered = registry.call("POST", "/api/v1/namespaces/x.sdkctl/keys", api_key,
                                       {"public_key": public_b64, "label": "hallctl",
                                        "proof": key_proof(key_path, "org.sdkctl", "x.sdkctl")})
    assert status == 201 and registered["kid"] == kid, registered
    worker = register_worker(registry, api_key, "x.sdkctl.summarizer")
    pkg = make_package(tmp_path / "pkg")

    env = {**os.environ, "PYHALL_API_KEY": api_key}
    done = subprocess.run([HALLCTL, "--registry", registry.base, "attest", str(pkg),
                           "--worker", worker["id"], "--key", str(key_path)],
                          capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert f"Package hash: {package_hash(pkg)}" in done.stdout
    status, current = registry.call("GET", f"/api/v1/workers/{worker['id']}/attestation", api_key)
    assert current["artifact_hash"] == package_hash(pkg) and current["signed_by"] == kid

    # The same key file, read by Python, signs cards the server accepts.
    (pkg / "worker.py").write_bytes(b"print('v2')\n")
    card = build_card(worker, package_hash(pkg), kid)
    status, attestation = submit(registry, api_key, worker, card, sign_card(card, key_path))
    assert attestation["status"] == "attested", attestation


def test_the_server_hashes_registrations_with_the_same_canonical_json(registry):
    """A worker registration's artifact_hash is sha256 of the canonical JSON of
    the body; the server refuses a mismatch, so this checks canonical_json
    byte for byte on non-ASCII, astral characters and escapes."""
    api_key = registry.tenant_key("org.sdkcanon", SCOPES)
    body = {"worker_id": "x.sdkcanon.w", "capabilities": ["cap.doc.summarize"],
            "contact": "Zoë Ångström 😀 \"quoted\" \\ back/slash <zoe@example.com>",
            "blast_radius": {"data": 1, "network": 0, "financial": 0, "time": 2, "reversibility": 3}}
    good = {**body, "artifact_hash": "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest()}
    wrong = {**body, "worker_id": "x.sdkcanon.v",
             "artifact_hash": "sha256:" + hashlib.sha256(canonical_json(body) + b" ").hexdigest()}
    status, refused = registry.call("POST", "/api/v1/workers", api_key, wrong)
    assert status >= 400 and "TAMPERED" in str(refused).upper(), refused
    status, worker = registry.call("POST", "/api/v1/workers", api_key, good)
    assert status == 201, worker


def decide(registry, api_key: str, worker_id: str, **overrides) -> dict:
    body = {"worker_id": worker_id, "capability": "cap.doc.summarize", "env": "dev",
            "data_label": "PUBLIC", **overrides}
    status, decision = registry.call("POST", "/api/v1/decisions", api_key, body)
    assert status == 200, decision
    return decision


@pytest.fixture(scope="module")
def chain(registry):
    """A tenant with ALLOW, DENY and dry-run decisions; its exported chain and keys."""
    api_key = registry.tenant_key("org.sdkaudit", SCOPES)
    status, worker = registry.call("POST", "/api/v1/workers", api_key, {
        "worker_id": "x.sdkaudit.w", "capabilities": ["cap.doc.summarize"]})
    assert status == 201, worker
    decisions = [decide(registry, api_key, worker["id"]),
                 decide(registry, api_key, worker["id"], capability="cap.admin.delete.v1"),
                 decide(registry, api_key, worker["id"], dry_run=True),
                 decide(registry, api_key, worker["id"], env="prod"),
                 decide(registry, api_key, worker["id"], capability="cap.web.fetch.v1")]
    assert {d["denied"] for d in decisions} == {True, False}
    status, listing = registry.call("GET", "/api/v1/keys")
    assert status == 200
    receipts, after = [], 0
    while True:
        status, page = registry.call("GET", f"/api/v1/audit/receipts?after={after}&limit=2", api_key)
        assert status == 200, page
        receipts += page["receipts"]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    return {"api_key": api_key, "decisions": decisions, "receipts": receipts,
            "keys": published_keys(listing)}


def test_real_receipts_and_decisions_verify(chain, registry):
    receipts, keys = chain["receipts"], chain["keys"]
    assert len(receipts) == len(chain["decisions"]) == 5
    assert verify_chain(receipts, keys) == 5
    for decision in chain["decisions"]:
        assert verify_receipt(decision["receipt"], keys) is True
        assert decision["proof"] == decision["receipt"]["receipt_hash"]
    assert [r["receipt_hash"] for r in receipts] == [d["proof"] for d in chain["decisions"]]
    if HALLCTL:
        done = subprocess.run([HALLCTL, "--registry", registry.base, "--api-key", chain["api_key"],
                               "audit", "verify"], capture_output=True, text=True, check=False)
        assert done.returncode == 0 and "OK: 5 receipts" in done.stdout, done.stdout + done.stderr


def expect(receipts, keys, code: str, index: int, receipt_id: str) -> ProofError:
    with pytest.raises(ProofError) as info:
        verify_chain(receipts, keys)
    e = info.value
    assert (e.code, e.index, e.receipt_id) == (code, index, receipt_id), str(e)
    assert f"receipt {index} ({receipt_id})" in str(e)
    return e


def test_a_changed_field_is_a_hash_mismatch_at_that_receipt(chain):
    receipts = copy.deepcopy(chain["receipts"])
    denied = next(i for i, r in enumerate(receipts) if r["outcome"] == "DENY" and i > 0)
    receipts[denied]["outcome"] = "ALLOW"
    e = expect(receipts, chain["keys"], "hash_mismatch", denied, receipts[denied]["receipt_id"])
    assert f"stated {receipts[denied]['receipt_hash']}" in str(e)
    with pytest.raises(ProofError, match="does not match"):
        verify_receipt(receipts[denied], chain["keys"])


def test_one_changed_hash_character_is_named_with_both_hashes(chain):
    receipts = copy.deepcopy(chain["receipts"])
    real = receipts[2]["receipt_hash"]
    receipts[2]["receipt_hash"] = real[:10] + ("0" if real[10] != "0" else "1") + real[11:]
    e = expect(receipts, chain["keys"], "hash_mismatch", 2, receipts[2]["receipt_id"])
    assert f"recomputed {real}" in str(e) and f"stated {receipts[2]['receipt_hash']}" in str(e)


def test_one_changed_signature_byte_is_a_bad_signature(chain):
    receipts = copy.deepcopy(chain["receipts"])
    raw = bytearray(base64.b64decode(receipts[3]["signature"]))
    raw[0] ^= 0x80
    receipts[3]["signature"] = base64.b64encode(bytes(raw)).decode()
    e = expect(receipts, chain["keys"], "bad_signature", 3, receipts[3]["receipt_id"])
    assert receipts[3]["signing_key_id"] in str(e)
    with pytest.raises(ProofError, match="signature does not verify"):
        verify_receipt(receipts[3], chain["keys"])


def test_a_dropped_middle_receipt_breaks_the_next_link(chain):
    receipts = copy.deepcopy(chain["receipts"])
    del receipts[2]
    e = expect(receipts, chain["keys"], "broken_link", 2, receipts[2]["receipt_id"])
    assert "does not link" in str(e)


def test_an_unpublished_key_is_named(chain):
    kid = chain["receipts"][0]["signing_key_id"]
    others = {k: v for k, v in chain["keys"].items() if k != kid}
    e = expect(chain["receipts"], others, "unknown_key", 0, chain["receipts"][0]["receipt_id"])
    assert kid in str(e)
