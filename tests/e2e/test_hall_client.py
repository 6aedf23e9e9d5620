"""The Python client (`clients/python`, `hall_registry.Hall`) against the real server:
every resource method, and every error class from a real answer."""

from __future__ import annotations

import socket
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from hall_registry import (
    Approval,
    AuthenticationError,
    Conflict,
    Decision,
    DecisionDenied,
    Hall,
    HallError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    ProofError,
    RateLimited,
    RegistryUnavailable,
    Worker,
)
from hall_registry import card as cards

TENANT_SCOPES = ["workers:write", "decisions:write", "read", "admin"]


def closed_port_url() -> str:
    """A URL where nothing listens (the port was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def acme_key(registry) -> str:
    return registry.tenant_key("org.acme", TENANT_SCOPES)


@pytest.fixture(scope="module")
def hall(registry, acme_key):
    with Hall(acme_key, registry.base) as client:
        yield client


@pytest.fixture(scope="module")
def operator(registry):
    with Hall(registry.operator_key, registry.base) as client:
        yield client


@pytest.fixture
def package(tmp_path):
    directory = tmp_path / "package"
    (directory / "code").mkdir(parents=True)
    (directory / "code" / "main.py").write_text("print('governed')\n")
    (directory / "README.md").write_text(f"package {uuid.uuid4().hex}\n")
    return str(directory)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


# --- workers ---------------------------------------------------------------


def test_register_get_list_update_revoke(hall):
    namespace = unique("x.w")
    worker = hall.workers.register(
        name="my-agent", namespace=namespace,
        capabilities=["cap.data.read.v1", "cap.report.generate.v1"], policy_tier=2,
        max_data_label="RESTRICTED", contact="ops@acme.example",
    )
    assert isinstance(worker, Worker)
    assert worker.id.startswith("wrk_")
    assert worker.worker_id == f"{namespace}.my-agent"
    assert worker.namespace == namespace
    assert worker.capabilities == ("cap.data.read.v1", "cap.report.generate.v1")
    assert worker.policy_tier == 2 and worker.status == "active" and worker.tenant_id == "org.acme"
    assert worker.max_data_label == "RESTRICTED" and worker.contact == "ops@acme.example"
    assert worker.record["contact"] == "ops@acme.example"

    assert hall.workers.get(worker.id) == worker
    assert hall.workers.get(worker.worker_id).id == worker.id

    others = [hall.workers.register(name=f"w{i}", namespace=namespace, capabilities=["cap.a"]) for i in range(3)]
    listed = list(hall.workers.list(namespace=namespace, page_size=2))
    assert [w.id for w in listed] == [worker.id] + [w.id for w in others]

    changed = hall.workers.update(worker.id, contact="security@acme.example")
    assert changed.contact == "security@acme.example"

    revoked = hall.workers.revoke(others[0].id)
    assert revoked.status == "revoked" and revoked.revoked and revoked.revoked_at is not None
    assert [w.id for w in hall.workers.list(namespace=namespace, status="revoked")] == [others[0].id]


def test_register_uses_pyhall_namespace_and_the_wcp_record_form(registry, acme_key, monkeypatch):
    namespace = unique("x.env")
    monkeypatch.setenv("PYHALL_NAMESPACE", namespace)
    with Hall(acme_key, registry.base) as hall:
        by_default = hall.workers.register(name="agent", capabilities=["cap.a"])
        assert by_default.namespace == namespace
        wcp = hall.workers.register(worker_id=f"{namespace}.summarizer.prod-01", capabilities=["cap.a"],
                                    worker_species_id="wrk.doc.summarizer")
        assert wcp.worker_id == f"{namespace}.summarizer.prod-01"
        assert wcp.worker_species_id == "wrk.doc.summarizer"


def test_attestation_status_hash_and_signed_card(hall, package, tmp_path):
    namespace = unique("x.att")
    worker = hall.workers.register(name="signed", namespace=namespace, capabilities=["cap.a"], policy_tier=5)

    never = hall.workers.attest(worker_id=worker.id)
    assert never.status == "none" and never.artifact_hash is None and never.attested_at is None

    key_file = str(tmp_path / "signing.key")
    _, kid = cards.generate_key_file(key_file)
    added = hall.namespaces.keys.add(namespace, key_file, "release key")
    assert added.kid == kid and added.namespace == namespace and not added.revoked

    submitted = hall.workers.submit_attestation(worker.id, package, key_file, expires_in_days=30)
    assert submitted.status == "attested", submitted.reason
    assert submitted.kind == "card" and submitted.signed_by == kid and submitted.id.startswith("att_")

    status = hall.workers.attest(worker_id=worker.id)
    assert status.status == "attested"
    assert status.artifact_hash == submitted.artifact_hash and len(status.artifact_hash) == 64
    assert isinstance(status.attested_at, datetime) and status.attested_at.tzinfo is not None

    verified = hall.workers.verify(worker.worker_id)
    assert verified.status == "active" and verified.current_hash == status.artifact_hash

    # An L5 worker needs the signed card: it has one, so it is allowed.
    assert hall.decisions.make(worker.id, "cap.a", "prod", data_label="PUBLIC").allowed

    unsigned = hall.workers.register(name="unsigned", namespace=namespace, capabilities=["cap.a"])
    by_hash = hall.workers.attest_hash(unsigned.id, "ab" * 32, label="ci build 7")
    assert by_hash.kind == "hash" and by_hash.artifact_hash == "ab" * 32 and by_hash.label == "ci build 7"
    assert hall.workers.attest(unsigned.id).status == by_hash.status

    keys = hall.namespaces.keys.list(namespace)
    assert [k.kid for k in keys] == [kid]
    revoked = hall.namespaces.keys.revoke(namespace, kid)
    assert revoked.revoked and revoked.revoked_at is not None


# --- decisions and audit ---------------------------------------------------


def test_make_allow_and_deny_get_and_verify(hall):
    worker = hall.workers.register(name="reader", namespace=unique("x.dec"), capabilities=["cap.data.read.v1"],
                                   policy_tier=2)
    allowed = hall.decisions.make(worker.id, "cap.data.read.v1", "dev", data_label="PUBLIC", tenant_id="org.acme",
                                  correlation_id="corr-1", request_hash="cd" * 32)
    assert isinstance(allowed, Decision)
    assert allowed.allowed and not allowed.denied and allowed.deny_code is None
    assert allowed.tier == 2 and allowed.worker_id == worker.worker_id and allowed.capability_id == "cap.data.read.v1"
    assert allowed.correlation_id == "corr-1" and allowed.receipt["request_hash"] == "cd" * 32
    assert len(allowed.proof) == 64 and allowed.proof == allowed.receipt["receipt_hash"]
    assert isinstance(allowed.decided_at, datetime)
    # The receipt (format 2) names the key that asked, signed with the rest.
    assert allowed.receipt["receipt_version"] == 2
    assert allowed.acting_key_id == hall.auth.whoami().key_id

    denied = hall.decisions.make(worker.id, "cap.admin.delete.v1", data_label="PUBLIC")
    assert denied.denied and not denied.allowed
    assert denied.deny_code == "DENY_CAPABILITY_NOT_DECLARED"
    assert "cap.admin.delete.v1" in denied.deny_reason
    assert denied.env == "dev"  # PYHALL_ENV unset: the seed's default

    dry = hall.decisions.make(worker.id, "cap.data.read.v1", data_label="RESTRICTED", dry_run=True)
    assert dry.denied and dry.deny_code == "DENY_DATA_LABEL_EXCEEDS_CLEARANCE" and dry.receipt["dry_run"] is True

    assert hall.decisions.get(allowed.id) == allowed
    assert hall.audit.verify(allowed) is True
    assert hall.audit.verify(denied.receipt) is True
    assert hall.audit.verify(dict(allowed.raw)) is True


def test_a_changed_receipt_fails_verification(hall):
    worker = hall.workers.register(name="tamper", namespace=unique("x.tam"), capabilities=["cap.a"])
    decision = hall.decisions.make(worker.id, "cap.a", data_label="PUBLIC")
    forged = dict(decision.receipt, outcome="DENY" if decision.allowed else "ALLOW")
    with pytest.raises(ProofError) as raised:
        hall.audit.verify(forged)
    assert "receipt_hash" in str(raised.value)
    with pytest.raises(ProofError):
        hall.audit.verify(dict(decision.raw, proof="00" * 32))


def test_query_filters_pages_and_iteration(hall):
    worker = hall.workers.register(name="history", namespace=unique("x.hist"),
                                   capabilities=["cap.data.read.v1", "cap.report.generate.v1"])
    start = datetime.now(timezone.utc) - timedelta(seconds=5)
    made = [
        hall.decisions.make(worker.id, "cap.data.read.v1", data_label="PUBLIC"),
        hall.decisions.make(worker.id, "cap.report.generate.v1", data_label="PUBLIC"),
        hall.decisions.make(worker.id, "cap.undeclared.v1", data_label="PUBLIC"),
        hall.decisions.make(worker.id, "cap.data.read.v1", data_label="PUBLIC"),
    ]
    newest_first = [d.id for d in reversed(made)]

    page = hall.decisions.query(worker_id=worker.id, limit=20)
    assert [d.id for d in page.decisions] == newest_first and page.next_cursor is None
    for d in page.decisions:
        assert d.decided_at and d.capability_id and isinstance(d.denied, bool)

    first = hall.decisions.query(worker_id=worker.id, limit=3)
    assert len(first) == 3 and first.next_cursor
    rest = hall.decisions.query(worker_id=worker.id, limit=3, cursor=first.next_cursor)
    assert [d.id for d in first] + [d.id for d in rest] == newest_first

    assert [d.id for d in hall.decisions.iter(worker_id=worker.worker_id, page_size=1)] == newest_first
    assert [d.id for d in hall.decisions.query(worker_id=worker.id, denied=True).decisions] == [made[2].id]
    assert [d.id for d in hall.decisions.query(worker_id=worker.id, capability_id="cap.report.generate.v1")
            .decisions] == [made[1].id]
    assert len(hall.decisions.query(worker_id=worker.id, since=start).decisions) == 4
    assert hall.decisions.query(worker_id=worker.id, until=start).decisions == ()


def test_the_same_idempotency_key_answers_the_same_decision_once(hall):
    worker = hall.workers.register(name="idem", namespace=unique("x.idem"), capabilities=["cap.a"])
    before = len(list(hall.audit.receipts()))
    key = f"order-{uuid.uuid4()}"
    first = hall.decisions.make(worker.id, "cap.a", data_label="PUBLIC", idempotency_key=key)
    again = hall.decisions.make(worker.id, "cap.a", data_label="PUBLIC", idempotency_key=key)
    assert again.id == first.id and again.proof == first.proof
    assert len(list(hall.audit.receipts())) == before + 1
    with pytest.raises(Conflict) as raised:
        hall.decisions.make(worker.id, "cap.a", data_label="INTERNAL", idempotency_key=key)
    assert raised.value.status == 409 and raised.value.code == "idempotency_key_reused"


def test_the_whole_chain_verifies_and_receipts_page(hall):
    worker = hall.workers.register(name="chain", namespace=unique("x.chain"), capabilities=["cap.a"])
    for _ in range(3):
        hall.decisions.make(worker.id, "cap.a", data_label="PUBLIC")
    receipts = list(hall.audit.receipts(page_size=2))
    assert len(receipts) >= 3
    assert [r["receipt_id"] for r in receipts] == [r["receipt_id"] for r in hall.audit.receipts()]
    assert hall.audit.verify_chain() == len(receipts)
    assert hall.audit.verify_chain(receipts) == len(receipts)
    with pytest.raises(ProofError):
        hall.audit.verify_chain(receipts[:1] + receipts[2:])  # one removed: the link breaks
    keys = hall.audit.keys()
    assert keys and keys[0].algorithm == "Ed25519" and any(k.status == "active" for k in keys)


# --- namespaces ------------------------------------------------------------


def test_namespaces_check_claim_list_release(registry, hall, operator):
    namespace = unique("x.ns")
    assert hall.namespaces.check(namespace).status == "available"
    claimed = hall.namespaces.claim(namespace)
    assert claimed.namespace == namespace and claimed.status == "claimed" and claimed.tenant_id == "org.acme"
    assert hall.namespaces.check(namespace).status == "yours"
    assert namespace in [n.namespace for n in hall.namespaces.list()]
    assert hall.namespaces.check("not a namespace").status == "invalid"

    other_key = registry.tenant_key("org.other", TENANT_SCOPES)
    with Hall(other_key, registry.base) as other:
        assert other.namespaces.check(namespace).status == "taken"
        with pytest.raises(Conflict) as raised:
            other.namespaces.claim(namespace)
        assert raised.value.status == 409

    with pytest.raises(PermissionDenied):
        hall.namespaces.release(namespace)  # the operator's
    released = operator.namespaces.release(namespace)
    assert released.namespace == namespace
    assert hall.namespaces.check(namespace).status == "available"


def test_the_operator_force_transfers_and_force_releases_a_squatted_namespace(registry, hall, operator, tmp_path):
    namespace = unique("x.squat")
    squatter = hall.workers.register(name="fake", namespace=namespace, capabilities=["cap.a"])
    key_file = str(tmp_path / "squat.key")
    cards.generate_key_file(key_file)
    hall.namespaces.keys.add(namespace, key_file, "squat key")
    registry.tenant_key("org.rightful", TENANT_SCOPES)

    with pytest.raises(Conflict):
        operator.namespaces.transfer(namespace, "org.rightful")  # in use
    with pytest.raises(PermissionDenied):
        hall.namespaces.force_release(namespace, "mine")
    moved = operator.namespaces.force_transfer(namespace, "org.rightful", "trademark of Rightful")
    assert moved.action == "transfer" and moved.forced and moved.to_tenant == "org.rightful"
    assert (moved.revoked_workers, moved.revoked_keys) == (1, 1)
    assert hall.workers.get(squatter.id).status == "revoked"
    released = operator.namespaces.force_release(namespace, "settled")
    assert released.action == "release" and released.from_tenant == "org.rightful"
    assert [c.reason for c in operator.namespaces.history(namespace)] == ["trademark of Rightful", "settled"]
    assert hall.namespaces.check(namespace).status == "available"


# --- approvals -------------------------------------------------------------


def gatekept_worker(hall, package, tmp_path) -> Worker:
    """An L8 worker with a signed attestation: every prod call needs a human."""
    namespace = unique("x.gate")
    worker = hall.workers.register(name="gate", namespace=namespace, capabilities=["cap.data.write.v1"],
                                   policy_tier=8)
    key_file = str(tmp_path / f"{namespace}.key")
    cards.generate_key_file(key_file)
    hall.namespaces.keys.add(namespace, key_file, "gate key")
    assert hall.workers.submit_attestation(worker.id, package, key_file).status == "attested"
    return worker


def test_approvals_pending_get_approve_deny_escalate(hall, package, tmp_path):
    worker = gatekept_worker(hall, package, tmp_path)

    asked = hall.decisions.make(worker.id, "cap.data.write.v1", "prod", data_label="PUBLIC")
    assert asked.denied and asked.deny_code == "DENY_REQUIRES_HUMAN_APPROVAL"
    assert asked.supervisor_required and asked.supervisor_level == "gatekeeper" and asked.pending_approval_id
    assert asked.escalation_context["tier"] == 8

    pending = hall.approvals.pending()
    assert asked.pending_approval_id in [a.id for a in pending]
    one = hall.approvals.get(asked.pending_approval_id)
    assert isinstance(one, Approval) and one.status == "pending" and one.decision_id == asked.id

    approved = hall.approvals.approve(one.id, note="change CHG-42")
    assert approved.status == "approved" and approved.resolution_note == "change CHG-42"
    passed = hall.decisions.make(worker.id, "cap.data.write.v1", "prod", data_label="PUBLIC", approval_id=one.id)
    assert passed.allowed and passed.receipt["approval_id"] == one.id
    assert hall.approvals.get(one.id).used_by_decision == passed.id

    second = hall.decisions.make(worker.id, "cap.data.write.v1", "prod", data_label="PUBLIC")
    escalated = hall.approvals.escalate(second.pending_approval_id, note="needs the IC")
    assert escalated.supervisor_level == "incident_commander"
    denied = hall.approvals.deny(second.pending_approval_id, note="no")
    assert denied.status == "denied"
    with pytest.raises(Conflict):
        hall.approvals.approve(second.pending_approval_id)
    with pytest.raises(NotFound):
        hall.approvals.get(str(uuid.uuid4()))


# --- ban list --------------------------------------------------------------


def test_ban_list_report_review_check_list_lift(hall, operator):
    sha256 = uuid.uuid4().hex * 2
    assert hall.ban_list.check(sha256).banned is False

    report = hall.ban_list.report(sha256, "ships a credential stealer", evidence_url="https://example.org/analysis")
    assert report.status == "pending" and report.reporter_tenant == "org.acme"
    assert sha256 not in [b.sha256 for b in hall.ban_list.list()]

    with pytest.raises(PermissionDenied):
        hall.ban_list.reports()
    assert report.id in [r.id for r in operator.ban_list.reports(status="pending")]
    confirmed = operator.ban_list.confirm(report.id, note="reproduced")
    assert confirmed.report.status == "confirmed" and confirmed.ban.sha256 == sha256

    history = hall.ban_list.check(sha256)
    assert history.banned and history.history[0].reason == "ships a credential stealer"
    assert sha256 in [b.sha256 for b in hall.ban_list.list(limit=10)]

    lifted = operator.ban_list.lift(sha256, note="false positive")
    assert lifted.lifted_at is not None
    assert hall.ban_list.check(sha256).banned is False

    other = hall.ban_list.report("ef" * 32, "suspicious")
    assert operator.ban_list.reject(other.id, note="benign").status == "rejected"
    with pytest.raises(Conflict):
        operator.ban_list.reject(other.id)


# --- credentials -----------------------------------------------------------


def test_whoami_and_session_tokens(registry, hall, acme_key):
    me = hall.auth.whoami()
    assert me.tenant_id == "org.acme" and me.credential == "api_key" and not me.operator
    session = hall.auth.token(scopes=["read"], ttl_seconds=120)
    assert session.scopes == ("read",) and session.token not in repr(session)
    with Hall(session.token, registry.base) as by_session:
        assert by_session.auth.whoami().credential == "session"
        with pytest.raises(PermissionDenied):  # a read-only session cannot register
            by_session.workers.register(name="x", namespace=unique("x.s"), capabilities=["cap.a"])


# --- every error class from a real answer ------------------------------------


def test_authentication_error(registry):
    with Hall("phk_" + "x" * 43, registry.base) as hall:
        with pytest.raises(AuthenticationError) as raised:
            hall.workers.get("wrk_0")
    assert raised.value.status == 401 and raised.value.code and raised.value.message
    assert raised.value.code in str(raised.value) and raised.value.message in str(raised.value)


def test_permission_denied(registry):
    reader = registry.tenant_key("org.acme", ["read"])
    with Hall(reader, registry.base) as hall:
        with pytest.raises(PermissionDenied) as raised:
            hall.decisions.make("wrk_0", "cap.a", data_label="PUBLIC")
    assert raised.value.status == 403 and isinstance(raised.value, PermissionError)
    assert raised.value.message in str(raised.value)


def test_not_found(hall):
    with pytest.raises(NotFound) as raised:
        hall.workers.get("wrk_" + "0" * 32)
    assert raised.value.status == 404 and raised.value.code == "not_found"
    with pytest.raises(NotFound):
        hall.decisions.get(str(uuid.uuid4()))


def test_invalid_request(hall):
    with pytest.raises(InvalidRequest) as raised:
        hall.decisions.query(limit=1000)
    assert raised.value.status == 400 and raised.value.code == "invalid_query"
    assert "limit" in raised.value.message
    with pytest.raises(InvalidRequest) as raised:
        hall.workers.register(name="no-capabilities", namespace=unique("x.bad"))
    assert raised.value.status == 400 and "capabilities" in str(raised.value)


def test_registry_unavailable_when_nothing_listens():
    with Hall("phk_" + "y" * 43, closed_port_url(), retries=1) as hall:
        with pytest.raises(RegistryUnavailable) as raised:
            hall.decisions.make("wrk_0", "cap.a", data_label="PUBLIC")
    assert raised.value.status is None and raised.value.code == "unreachable"


@pytest.fixture(scope="module")
def strict_registry(start_registry):
    """A registry with a tiny rate limit and body limit."""
    with start_registry({"HALL_RATE_LIMIT_PER_MINUTE": "6", "HALL_MAX_BODY_BYTES": "2048"}) as started:
        yield started


def test_payload_too_large_is_an_invalid_request(strict_registry):
    key = strict_registry.tenant_key("org.big", TENANT_SCOPES)
    with Hall(key, strict_registry.base) as hall:
        with pytest.raises(InvalidRequest) as raised:
            hall.workers.register(name="big", namespace="x.big", capabilities=["cap.a"], contact="x" * 4096)
    assert raised.value.status == 413 and raised.value.code == "payload_too_large"


def test_rate_limited_carries_the_servers_retry_after(strict_registry):
    key = strict_registry.tenant_key("org.busy", TENANT_SCOPES)
    with Hall(key, strict_registry.base, retries=0) as hall:
        with pytest.raises(RateLimited) as raised:
            for _ in range(10):
                hall.namespaces.list()
    assert raised.value.status == 429 and raised.value.code == "rate_limited"
    assert raised.value.retry_after is not None and 0 < raised.value.retry_after <= 60


# --- governed --------------------------------------------------------------


def test_governed_runs_the_function_only_when_allowed(hall):
    worker = hall.workers.register(name="gov", namespace=unique("x.gov"), capabilities=["cap.data.read.v1"])
    calls = []

    @hall.governed("cap.data.read.v1", worker_id=worker.id)
    def fetch(query: str) -> dict:
        calls.append(query)
        return {"rows": [query]}

    @hall.governed("cap.data.delete.v1", worker_id=worker.id)
    def delete(query: str) -> None:
        calls.append(("delete", query))

    assert fetch("q1") == {"rows": ["q1"]} and calls == ["q1"]
    assert fetch.__name__ == "fetch"
    with pytest.raises(PermissionError) as raised:
        delete("q2")
    assert isinstance(raised.value, DecisionDenied)
    assert raised.value.decision.deny_code == "DENY_CAPABILITY_NOT_DECLARED"
    assert "cap.data.delete.v1" in str(raised.value)
    assert calls == ["q1"]


def test_governed_fails_closed_when_the_registry_cannot_be_reached():
    calls = []
    with Hall("phk_" + "z" * 43, closed_port_url(), retries=0) as hall:
        @hall.governed("cap.data.read.v1", worker_id="wrk_abc123")
        def fetch() -> None:
            calls.append(1)

        with pytest.raises(RegistryUnavailable):
            fetch()
    assert calls == []


def test_governed_fails_closed_on_a_refused_key(registry):
    calls = []
    with Hall("phk_" + "w" * 43, registry.base) as hall:
        @hall.governed("cap.data.read.v1", worker_id="wrk_abc123")
        def fetch() -> None:
            calls.append(1)

        with pytest.raises(HallError):
            fetch()
    assert calls == []


def test_pyhall_env_sets_the_default_env(registry, acme_key, monkeypatch):
    monkeypatch.setenv("PYHALL_ENV", "stage")
    with Hall(acme_key, registry.base) as hall:
        worker = hall.workers.register(name="staged", namespace=unique("x.env"), capabilities=["cap.a"])
        assert hall.decisions.make(worker.id, "cap.a", data_label="PUBLIC").env == "stage"
