"""The seed SDK page's code, run as users run it: each file of
`../shared/reference/seed-snippets/` with only `from pyhall import Hall`
changed to `from hall_registry import Hall` (and real ids where the seed
writes `wrk_abc123`), in its own Python process, against the real server.

HALL_SEED_SNIPPETS overrides where the snippets are read from.
"""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hall_registry import Hall
from hall_registry import card as cards

SNIPPETS = Path(os.environ.get(
    "HALL_SEED_SNIPPETS", Path(__file__).resolve().parents[3] / "shared" / "reference" / "seed-snippets"))
SEED_IMPORT = "from pyhall import Hall"
OUR_IMPORT = "from hall_registry import Hall"
SEED_WORKER = "wrk_abc123"
TENANT_SCOPES = ["workers:write", "decisions:write", "read", "admin"]


def snippet(name: str, worker_id: str | None = None) -> str:
    """The snippet's text with the one changed import line (and a real worker id)."""
    path = SNIPPETS / name
    assert path.is_file(), f"seed snippet {path} is missing (set HALL_SEED_SNIPPETS)"
    seed = path.read_text()
    text = seed.replace(SEED_IMPORT, OUR_IMPORT)
    if worker_id is not None:
        assert SEED_WORKER in text
        text = text.replace(SEED_WORKER, worker_id)
    # Nothing else changes: no line but the import and the worker ids.
    assert seed.count(SEED_IMPORT) <= 1
    for before, after in zip(seed.splitlines(), text.splitlines()):
        if before != after:
            assert SEED_IMPORT in before or SEED_WORKER in before
    return text


def run(source: str, tmp_path: Path, env: dict, epilogue: str = "") -> subprocess.CompletedProcess:
    """Runs the snippet in a fresh interpreter; `epilogue` (e.g. a call of the
    function it defines) runs after it, in its namespace, without editing it."""
    script = tmp_path / f"snippet_{uuid.uuid4().hex}.py"
    script.write_text(source)
    runner = ("import runpy, sys\n"
              f"namespace = runpy.run_path({str(script)!r}, run_name='__main__')\n"
              f"{epilogue}\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYHALL_", "HALL_SESSION", "HALL_SERVER"))}
    return subprocess.run([sys.executable, "-c", runner], env={**clean, **env}, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture(scope="module")
def acme_key(registry) -> str:
    # The quick start decides with tenant_id="org.acme": the key must be org.acme's.
    return registry.tenant_key("org.acme", TENANT_SCOPES)


@pytest.fixture(scope="module")
def hall(registry, acme_key):
    with Hall(acme_key, registry.base) as client:
        yield client


@pytest.fixture
def env(registry, acme_key) -> dict:
    return {"PYHALL_API_KEY": acme_key, "PYHALL_REGISTRY": registry.base}


@pytest.fixture(scope="module")
def reader(hall):
    """A worker like the seed's: may read data, nothing else."""
    return hall.workers.register(name=f"reader-{uuid.uuid4().hex[:8]}", namespace="x.seed",
                                 capabilities=["cap.data.read.v1"], policy_tier=2)


@pytest.fixture(scope="module")
def writer(hall):
    """A worker that does not declare cap.data.read.v1: the seed's calls are denied for it."""
    return hall.workers.register(name=f"writer-{uuid.uuid4().hex[:8]}", namespace="x.seed",
                                 capabilities=["cap.data.write.v1"], policy_tier=2)


def test_1_quick_start(hall, env, tmp_path):
    result = run(snippet("1_quick_start.py"), tmp_path, env)
    assert result.returncode == 0, result.stderr
    worker_id, namespace, proof = result.stdout.split()
    assert re.fullmatch(r"wrk_[0-9a-f]{32}", worker_id)
    assert namespace == "x.myagent"
    assert re.fullmatch(r"[0-9a-f]{64}", proof)
    decision = next(d for d in hall.decisions.iter(worker_id=worker_id) if d.proof == proof)
    assert decision.allowed and decision.tenant_id == "org.acme"
    assert hall.audit.verify(decision) is True


def test_2_governed_decorator_runs_when_allowed(env, reader, tmp_path):
    result = run(snippet("2_governed_decorator.py", reader.id), tmp_path, env,
                 "print(namespace['fetch_sensitive_data']('select 1'))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'rows': [Ellipsis]}"


def test_2_governed_decorator_refuses_when_denied(env, writer, tmp_path):
    result = run(snippet("2_governed_decorator.py", writer.id), tmp_path, env,
                 "namespace['fetch_sensitive_data']('select 1')\nprint('the function ran')")
    assert result.returncode == 1
    assert "PermissionError: pyhall denied cap.data.read.v1" in result.stderr
    assert "DENY" not in result.stdout and "the function ran" not in result.stdout


def test_2_governed_decorator_honours_pyhall_env(hall, env, reader, tmp_path):
    result = run(snippet("2_governed_decorator.py", reader.id), tmp_path, {**env, "PYHALL_ENV": "stage"},
                 "namespace['fetch_sensitive_data']('q')")
    assert result.returncode == 0, result.stderr
    assert hall.decisions.query(worker_id=reader.id, limit=1).decisions[0].env == "stage"


def fastapi_app(env: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    script = tmp_path / "fastapi_snippet.py"
    script.write_text(snippet("3_fastapi_middleware.py"))
    app = runpy.run_path(str(script))["app"]

    @app.get("/data")
    async def data() -> dict:
        return {"rows": [1, 2, 3]}

    return app


def test_3_fastapi_middleware_lets_allowed_requests_through(hall, env, reader, monkeypatch, tmp_path):
    app = fastapi_app(env, monkeypatch, tmp_path)
    with TestClient(app) as client:
        response = client.get("/data", headers={"X-Worker-ID": reader.id, "X-Capability": "cap.data.read.v1"})
        assert response.status_code == 200 and response.json() == {"rows": [1, 2, 3]}
        assert client.get("/data").status_code == 200  # no headers: not governed, as in the seed
    latest = hall.decisions.query(worker_id=reader.id, limit=1).decisions[0]
    assert latest.allowed and latest.env == "prod" and latest.data_label == "INTERNAL"


def test_3_fastapi_middleware_blocks_denied_requests_with_the_seeds_500(env, writer, monkeypatch, tmp_path):
    # The seed raises HTTPException inside an HTTP middleware; Starlette
    # answers that with a 500, not a 403 (see the snippets' README). The
    # request is blocked all the same. hall_registry.asgi.HallMiddleware
    # answers 403 (tests/e2e/test_hall_async.py).
    app = fastapi_app(env, monkeypatch, tmp_path)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/data", headers={"X-Worker-ID": writer.id, "X-Capability": "cap.data.read.v1"})
    assert response.status_code == 500
    assert "rows" not in response.text


def test_4_check_attestation_refuses_an_unattested_worker(env, reader, tmp_path):
    result = run(snippet("4_check_attestation.py", reader.id), tmp_path, env)
    assert result.returncode == 1
    # A never-attested worker reports "none" (see the client's README).
    assert result.stdout.splitlines() == ["none", "None", "None"]
    assert "RuntimeError: Worker is not attested" in result.stderr


def test_4_check_attestation_passes_an_attested_worker(hall, env, tmp_path):
    namespace = f"x.att{uuid.uuid4().hex[:8]}"
    worker = hall.workers.register(name="signed", namespace=namespace, capabilities=["cap.data.read.v1"])
    key_file = str(tmp_path / "signing.key")
    cards.generate_key_file(key_file)
    hall.namespaces.keys.add(namespace, key_file, "seed test")
    package = tmp_path / "package"
    package.mkdir()
    (package / "worker.py").write_text("def run():\n    return 1\n")
    attested = hall.workers.submit_attestation(worker.id, str(package), key_file)

    result = run(snippet("4_check_attestation.py", worker.id), tmp_path, env)
    assert result.returncode == 0, result.stderr
    status, artifact_hash, attested_at = result.stdout.splitlines()
    assert status == "attested"
    assert artifact_hash == attested.artifact_hash and re.fullmatch(r"[0-9a-f]{64}", artifact_hash)
    assert attested_at == str(attested.attested_at)


def test_5_query_history(hall, env, tmp_path):
    worker = hall.workers.register(name=f"hist-{uuid.uuid4().hex[:8]}", namespace="x.seed",
                                   capabilities=["cap.data.read.v1"])
    allowed = hall.decisions.make(worker.id, "cap.data.read.v1", data_label="PUBLIC")
    denied = hall.decisions.make(worker.id, "cap.report.generate.v1", data_label="PUBLIC")
    result = run(snippet("5_query_history.py", worker.id), tmp_path, env)
    assert result.returncode == 0, result.stderr
    # The seed prints the capability and the status with no space between them.
    assert result.stdout.splitlines() == [
        f"{denied.decided_at} cap.report.generate.v1DENY ({denied.deny_reason})",
        f"{allowed.decided_at} cap.data.read.v1ALLOW",
    ]


def test_6_local_hall_route_with_a_session_token(registry, hall, reader, tmp_path):
    token = hall.auth.token(scopes=["decisions:write"])
    env = {"HALL_SESSION_TOKEN": token.token, "HALL_SERVER_URL": registry.base}
    result = run(snippet("6_local_hall_route.py", reader.id), tmp_path, env)
    assert result.returncode == 0, result.stderr
    latest = hall.decisions.query(worker_id=reader.id, limit=1).decisions[0]
    assert latest.allowed and latest.tenant_id == "org.acme" and latest.capability_id == "cap.data.read.v1"


def test_6_local_hall_route_raises_on_a_deny(registry, hall, writer, tmp_path):
    token = hall.auth.token()
    env = {"HALL_SESSION_TOKEN": token.token, "HALL_SERVER_URL": registry.base}
    result = run(snippet("6_local_hall_route.py", writer.id), tmp_path, env)
    assert result.returncode == 1
    assert "PermissionError" in result.stderr and "cap.data.read.v1" in result.stderr
