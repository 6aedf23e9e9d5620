"""The verifiable log checked by an independent implementation: the
registry's signed checkpoints and RFC 9162 proofs, verified with
``hall_registry.tlog`` (written from the C2SP and RFC 9162 texts, not from
the registry's Rust) and the registry's published key."""

import base64
import hashlib
import time
import urllib.request
import uuid

import pytest

from hall_registry import tlog
from hall_registry.errors import ProofError

ORIGIN = "e2e.test/hall"


@pytest.fixture(scope="module")
def log_registry(start_registry):
    with start_registry({"HALL_CHECKPOINT_INTERVAL": "200ms", "HALL_LOG_ORIGIN": ORIGIN}) as r:
        yield r


def get_text(registry, path, key):
    req = urllib.request.Request(registry.base + path, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.headers["Content-Type"], resp.read().decode()


def verifier_of(registry, kid):
    status, keys = registry.call("GET", "/api/v1/keys")
    assert status == 200, keys
    public = base64.b64decode(next(k for k in keys["keys"] if k["kid"] == kid)["public_key"])
    raw = b"\x01" + public
    key_hash = hashlib.sha256(ORIGIN.encode() + b"\n" + raw).digest()[:4].hex()
    return tlog.NoteVerifier.parse(f"{ORIGIN}+{key_hash}+{base64.b64encode(raw).decode()}")


def checkpoint_covering(registry, key, size):
    deadline = time.monotonic() + 20
    while True:
        status, c = registry.call("GET", "/api/v1/audit/checkpoint", key)
        if status == 200 and c["tree_size"] >= size:
            return c
        assert time.monotonic() < deadline, f"no checkpoint of {size}: {status} {c}"
        time.sleep(0.1)


def test_checkpoints_and_proofs_verify_with_an_independent_implementation(log_registry):
    r = log_registry
    tenant = f"org.log-{uuid.uuid4().hex[:8]}"
    key = r.tenant_key(tenant, ["admin"])
    namespace = f"x.log{uuid.uuid4().hex[:8]}"
    status, body = r.call("POST", "/api/v1/workers", key, {
        "name": "w", "namespace": namespace, "capabilities": ["cap.a.b"], "policy_tier": 0})
    assert status == 201, body
    decisions = []
    for _ in range(7):
        status, d = r.call("POST", "/api/v1/decisions", key, {
            "worker_id": f"{namespace}.w", "capability": "cap.a.b", "env": "dev", "data_label": "PUBLIC"})
        assert status == 200, d
        decisions.append(d)

    first = checkpoint_covering(r, key, 7)
    verifier = verifier_of(r, first["key_id"])
    origin = f"{ORIGIN}/{tenant}"
    content_type, note = get_text(r, "/api/v1/audit/checkpoint", key)
    assert content_type.startswith("text/plain")
    assert note == first["checkpoint"]
    head = tlog.open_checkpoint(note, origin, [verifier])
    assert head.size == 7
    # Another tenant's name on the same note is refused.
    with pytest.raises(ProofError):
        tlog.open_checkpoint(note, f"{ORIGIN}/org.other", [verifier])

    for i, d in enumerate(decisions):
        receipt = d["receipt"]
        status, proof = r.call(
            "GET", f"/api/v1/audit/proof/inclusion?receipt_id={receipt['receipt_id']}&tree_size=7", key)
        assert status == 200, proof
        assert proof["leaf_index"] == i
        assert d["leaf_index"] == i, "the decision answer says its leaf"
        leaf = tlog.leaf_hash(bytes.fromhex(receipt["receipt_hash"]))
        tlog.verify_inclusion(leaf, i, 7, [bytes.fromhex(h) for h in proof["hashes"]], head.root)
        # A changed receipt hash is not in the tree.
        with pytest.raises(ProofError):
            forged = tlog.leaf_hash(bytes.fromhex(receipt["receipt_hash"][::-1]))
            tlog.verify_inclusion(forged, i, 7, [bytes.fromhex(h) for h in proof["hashes"]], head.root)

    for _ in range(5):
        status, d = r.call("POST", "/api/v1/decisions", key, {
            "worker_id": f"{namespace}.w", "capability": "cap.a.b", "env": "dev", "data_label": "PUBLIC"})
        assert status == 200, d
    later = checkpoint_covering(r, key, 12)
    later_head = tlog.open_checkpoint(later["checkpoint"], origin, [verifier])
    status, proof = r.call("GET", f"/api/v1/audit/proof/consistency?from=7&to={later_head.size}", key)
    assert status == 200, proof
    tlog.verify_consistency(7, later_head.size, head.root, later_head.root,
                            [bytes.fromhex(h) for h in proof["hashes"]])
    # The same proof does not join a different old head (a split view).
    with pytest.raises(ProofError):
        tlog.verify_consistency(7, later_head.size, hashlib.sha256(b"other").digest(), later_head.root,
                                [bytes.fromhex(h) for h in proof["hashes"]])


def test_the_python_client_proves_a_decision_is_in_the_log(log_registry):
    from hall_registry import Hall

    r = log_registry
    tenant = f"org.incl-{uuid.uuid4().hex[:8]}"
    key = r.tenant_key(tenant, ["admin"])
    with Hall(key, r.base) as hall:
        worker = hall.workers.register(name="w", namespace=f"x.incl{uuid.uuid4().hex[:8]}",
                                       capabilities=["cap.a.b"])
        decisions = [hall.decisions.make(worker.id, "cap.a.b", "dev", data_label="PUBLIC") for _ in range(3)]
        checkpoint_covering(r, key, 3)
        proven = hall.audit.inclusion(decisions[1])
        assert proven == {"leaf_index": 1, "tree_size": proven["tree_size"], "origin": f"{ORIGIN}/{tenant}"}
        assert proven["tree_size"] >= 3
        # A receipt with a changed hash is not in the log.
        forged = dict(decisions[1].receipt)
        forged["receipt_hash"] = forged["receipt_hash"][::-1]
        with pytest.raises(ProofError):
            hall.audit.inclusion(forged)


def test_a_witness_cosignature_made_here_is_verified_stored_and_served(log_registry):
    """A witness written against the C2SP tlog-cosignature text (Python)
    cosigns a checkpoint; the registry (Rust) verifies and serves it; the
    served note verifies here with the witness's key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    r = log_registry
    tenant = f"org.wit-{uuid.uuid4().hex[:8]}"
    key = r.tenant_key(tenant, ["admin"])
    namespace = f"x.wit{uuid.uuid4().hex[:8]}"
    status, body = r.call("POST", "/api/v1/workers", key, {
        "name": "w", "namespace": namespace, "capabilities": ["cap.a.b"], "policy_tier": 0})
    assert status == 201, body
    for _ in range(3):
        status, d = r.call("POST", "/api/v1/decisions", key, {
            "worker_id": f"{namespace}.w", "capability": "cap.a.b", "env": "dev", "data_label": "PUBLIC"})
        assert status == 200, d
    checkpoint = checkpoint_covering(r, key, 3)
    origin = f"{ORIGIN}/{tenant}"
    head = tlog.open_checkpoint(checkpoint["checkpoint"], origin, [verifier_of(r, checkpoint["key_id"])])

    private = Ed25519PrivateKey.generate()
    witness = tlog.WitnessKey.of("witness.e2e.test/py", private.public_key().public_bytes_raw())
    status, body = r.call("POST", "/api/v1/audit/witnesses", key, {"vkey": witness.vkey()})
    assert status == 201, body
    note = checkpoint["checkpoint"]
    text = note[: note.rfind("\n\n") + 1]
    line = tlog.cosign(text, witness.name, private, int(time.time()))
    status, cosigned = r.call("POST", "/api/v1/audit/checkpoint/cosign", key, {"checkpoint": note + line + "\n"})
    assert status == 200, cosigned
    assert cosigned["cosignatures"][0]["line"] == line

    # Served: the log's signature and the witness's both verify here.
    status, latest = r.call("GET", "/api/v1/audit/checkpoint?witnessed=true", key)
    assert status == 200, latest
    served = latest["checkpoint"]
    assert tlog.open_checkpoint(served, origin, [verifier_of(r, latest["key_id"])]) == head
    [found] = tlog.require_cosignatures(served, [witness])
    assert found.line == line
    # Another witness's requirement is not met by this one's cosignature.
    other = tlog.WitnessKey.of("witness.e2e.test/other", Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    with pytest.raises(ProofError):
        tlog.require_cosignatures(served, [witness, other])
