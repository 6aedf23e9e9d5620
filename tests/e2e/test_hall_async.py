"""`hall_registry.AsyncHall` and the ASGI middleware against the real server.

The async client shares each method's definition with the sync one, so these
tests walk the same surface once more through the async transport (awaiting,
async iteration across pages, errors) rather than re-proving every rule.
"""

from __future__ import annotations

import socket
import uuid

import fastapi
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from hall_registry import (
    AsyncHall,
    AuthenticationError,
    Conflict,
    DecisionDenied,
    Hall,
    NotFound,
    PermissionDenied,
    RegistryUnavailable,
)
from hall_registry import card as cards
from hall_registry.asgi import HallMiddleware

TENANT_SCOPES = ["workers:write", "decisions:write", "read", "admin"]


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def acme_key(registry) -> str:
    return registry.tenant_key("org.acme", TENANT_SCOPES)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.anyio
async def test_workers_decisions_and_audit(registry, acme_key, tmp_path):
    namespace = unique("x.async")
    async with AsyncHall(acme_key, registry.base) as hall:
        worker = await hall.workers.register(name="agent", namespace=namespace,
                                             capabilities=["cap.data.read.v1"], policy_tier=5)
        assert worker.id.startswith("wrk_") and worker.namespace == namespace
        assert (await hall.workers.get(worker.worker_id)).id == worker.id
        second = await hall.workers.register(name="second", namespace=namespace, capabilities=["cap.a"])
        assert [w.id async for w in hall.workers.list(namespace=namespace, page_size=1)] == [worker.id, second.id]
        assert (await hall.workers.update(second.id, contact="a@b.example")).contact == "a@b.example"
        assert (await hall.workers.attest_hash(second.id, "ab" * 32)).kind == "hash"
        assert (await hall.workers.revoke(second.id)).status == "revoked"
        assert (await hall.workers.verify(second.worker_id)).status == "revoked"

        assert (await hall.workers.attest(worker_id=worker.id)).status == "none"
        package = tmp_path / "pkg"
        package.mkdir()
        (package / "main.py").write_text("print(1)\n")
        key_file = str(tmp_path / "k")
        _, kid = cards.generate_key_file(key_file)
        assert (await hall.namespaces.keys.add(namespace, key_file, "k")).kid == kid
        assert [k.kid for k in await hall.namespaces.keys.list(namespace)] == [kid]
        attestation = await hall.workers.submit_attestation(worker.id, str(package), key_file)
        assert attestation.status == "attested"
        assert (await hall.workers.attest(worker.id)).artifact_hash == attestation.artifact_hash
        assert (await hall.namespaces.keys.revoke(namespace, kid)).revoked

        allowed = await hall.decisions.make(worker.id, "cap.data.read.v1", "prod", data_label="PUBLIC",
                                            tenant_id="org.acme")
        denied = await hall.decisions.make(worker.id, "cap.undeclared.v1", data_label="PUBLIC")
        assert allowed.allowed and denied.denied and denied.deny_code == "DENY_CAPABILITY_NOT_DECLARED"
        assert (await hall.decisions.get(allowed.id)).proof == allowed.proof
        page = await hall.decisions.query(worker_id=worker.id, limit=1)
        assert [d.id for d in page.decisions] == [denied.id] and page.next_cursor
        assert [d.id async for d in hall.decisions.iter(worker_id=worker.id, page_size=1)] == [denied.id, allowed.id]

        assert await hall.audit.verify(allowed) is True
        receipts = [r async for r in hall.audit.receipts(page_size=1)]
        assert await hall.audit.verify_chain() == len(receipts) >= 2
        assert (await hall.audit.keys())[0].algorithm == "Ed25519"


@pytest.mark.anyio
async def test_namespaces_approvals_ban_list_auth(registry, acme_key):
    namespace = unique("x.ans")
    async with AsyncHall(acme_key, registry.base) as hall, AsyncHall(registry.operator_key, registry.base) as op:
        assert (await hall.namespaces.check(namespace)).status == "available"
        assert (await hall.namespaces.claim(namespace)).status == "claimed"
        assert namespace in [n.namespace for n in await hall.namespaces.list()]
        with pytest.raises(PermissionDenied):
            await hall.namespaces.release(namespace)
        assert (await op.namespaces.release(namespace)).namespace == namespace

        assert isinstance(await hall.approvals.pending(), list)
        with pytest.raises(NotFound):
            await hall.approvals.get(str(uuid.uuid4()))

        sha256 = uuid.uuid4().hex * 2
        report = await hall.ban_list.report(sha256, "malware")
        assert report.status == "pending"
        assert report.id in [r.id for r in await op.ban_list.reports(status="pending")]
        assert (await op.ban_list.confirm(report.id)).ban.sha256 == sha256
        assert (await hall.ban_list.check(sha256)).banned
        assert sha256 in [b.sha256 for b in await hall.ban_list.list()]
        assert (await op.ban_list.lift(sha256)).lifted_at is not None
        rejected = await hall.ban_list.report(uuid.uuid4().hex * 2, "maybe")
        assert (await op.ban_list.reject(rejected.id)).status == "rejected"
        with pytest.raises(Conflict):
            await op.ban_list.confirm(rejected.id)

        assert (await hall.auth.whoami()).tenant_id == "org.acme"
        assert (await hall.auth.token(ttl_seconds=60)).tenant_id == "org.acme"


@pytest.mark.anyio
async def test_async_errors(registry):
    async with AsyncHall("phk_" + "q" * 43, registry.base) as hall:
        with pytest.raises(AuthenticationError):
            await hall.workers.get("wrk_0")
    async with AsyncHall("phk_" + "q" * 43, closed_port_url(), retries=0) as hall:
        with pytest.raises(RegistryUnavailable):
            await hall.decisions.make("wrk_0", "cap.a", data_label="PUBLIC")


@pytest.mark.anyio
async def test_async_governed_allows_denies_and_fails_closed(registry, acme_key):
    calls = []
    async with AsyncHall(acme_key, registry.base) as hall:
        worker = await hall.workers.register(name="gov", namespace=unique("x.agov"), capabilities=["cap.read"])

        @hall.governed("cap.read", worker_id=worker.id)
        async def read(n: int) -> int:
            calls.append(n)
            return n * 2

        @hall.governed("cap.write", worker_id=worker.id)
        async def write(n: int) -> None:
            calls.append(-n)

        assert await read(21) == 42
        with pytest.raises(DecisionDenied) as raised:
            await write(1)
        assert isinstance(raised.value, PermissionError)
        with pytest.raises(TypeError):
            hall.governed("cap.read", worker_id=worker.id)(lambda: None)

    async with AsyncHall("phk_" + "q" * 43, closed_port_url(), retries=0) as down:
        @down.governed("cap.read", worker_id="wrk_abc123")
        async def never() -> None:
            calls.append("down")

        with pytest.raises(RegistryUnavailable):
            await never()
    assert calls == [21]


@pytest.mark.anyio
async def test_the_sync_client_governs_async_functions_too(registry, acme_key):
    with Hall(acme_key, registry.base) as hall:
        worker = hall.workers.register(name="mixed", namespace=unique("x.mix"), capabilities=["cap.read"])

        @hall.governed("cap.read", worker_id=worker.id)
        async def read() -> str:
            return "ran"

        @hall.governed("cap.write", worker_id=worker.id)
        async def write() -> str:
            raise AssertionError("a denied function ran")

        assert await read() == "ran"
        with pytest.raises(DecisionDenied):
            await write()


# --- the ASGI middleware ----------------------------------------------------


def governed_app(hall: AsyncHall, **options) -> Starlette:
    async def data(request: Request) -> JSONResponse:
        decision = getattr(request.state, "hall_decision", None)
        return JSONResponse({"rows": [1, 2], "decision": decision.id if decision else None})

    return Starlette(
        routes=[Route("/data", data)],
        middleware=[Middleware(HallMiddleware, hall=hall, **options)],
    )


@pytest.fixture(scope="module")
def middleware_worker(registry, acme_key):
    with Hall(acme_key, registry.base) as hall:
        return hall.workers.register(name="api", namespace=unique("x.mw"),
                                     capabilities=["cap.data.read.v1"], policy_tier=2)


def test_middleware_passes_allowed_requests(registry, acme_key, middleware_worker):
    app = governed_app(AsyncHall(acme_key, registry.base), env="prod", data_label="INTERNAL")
    with TestClient(app) as client:
        response = client.get("/data", headers={"X-Worker-ID": middleware_worker.id,
                                                "X-Capability": "cap.data.read.v1"})
        assert response.status_code == 200
        decision_id = response.json()["decision"]
        ungoverned = client.get("/data")
        assert ungoverned.status_code == 200 and ungoverned.json()["decision"] is None
    with Hall(acme_key, registry.base) as hall:
        decision = hall.decisions.get(decision_id)
    assert decision.allowed and decision.env == "prod" and decision.data_label == "INTERNAL"


def test_middleware_answers_403_with_the_deny_reason(registry, acme_key, middleware_worker):
    app = governed_app(AsyncHall(acme_key, registry.base), env="prod", data_label="INTERNAL")
    with TestClient(app) as client:
        response = client.get("/data", headers={"X-Worker-ID": middleware_worker.id,
                                                "X-Capability": "cap.data.delete.v1"})
    assert response.status_code == 403
    body = response.json()
    assert body["deny_code"] == "DENY_CAPABILITY_NOT_DECLARED"
    assert "cap.data.delete.v1" in body["detail"] and len(body["proof"]) == 64
    assert "rows" not in body


def test_middleware_can_require_the_headers(registry, acme_key):
    app = governed_app(AsyncHall(acme_key, registry.base), require_headers=True)
    with TestClient(app) as client:
        assert client.get("/data").status_code == 403


def test_middleware_fails_closed_when_the_registry_is_down():
    app = governed_app(AsyncHall("phk_" + "q" * 43, closed_port_url(), retries=0))
    with TestClient(app) as client:
        response = client.get("/data", headers={"X-Worker-ID": "wrk_abc123", "X-Capability": "cap.data.read.v1"})
    assert response.status_code == 503 and "rows" not in response.json()


def test_middleware_fails_closed_on_a_refused_key(registry):
    app = governed_app(AsyncHall("phk_" + "q" * 43, registry.base))
    with TestClient(app) as client:
        response = client.get("/data", headers={"X-Worker-ID": "wrk_abc123", "X-Capability": "cap.data.read.v1"})
    assert response.status_code == 503 and "rows" not in response.json()


def test_middleware_with_fastapi_from_the_environment(registry, acme_key, middleware_worker, monkeypatch):
    monkeypatch.setenv("PYHALL_API_KEY", acme_key)
    monkeypatch.setenv("PYHALL_REGISTRY", registry.base)
    app = fastapi.FastAPI()
    app.add_middleware(HallMiddleware, env="prod", data_label="INTERNAL")

    @app.get("/data")
    async def data() -> dict:
        return {"rows": [1]}

    with TestClient(app) as client:
        headers = {"X-Worker-ID": middleware_worker.worker_id}
        assert client.get("/data", headers={**headers, "X-Capability": "cap.data.read.v1"}).json() == {"rows": [1]}
        denied = client.get("/data", headers={**headers, "X-Capability": "cap.other.v1"})
        assert denied.status_code == 403 and denied.json()["deny_code"] == "DENY_CAPABILITY_NOT_DECLARED"
