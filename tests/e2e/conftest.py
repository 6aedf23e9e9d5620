"""End-to-end harness: the real `hall-registry` binary on a fresh database,
driven over HTTP by the real PyHall client (`pyhall-wcp` from PyPI).

Environment (set by scripts/test):
  HALL_REGISTRY_BIN  path to the built hall-registry binary
  DATABASE_URL       a PostgreSQL where a test database may be created
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _with_database(url: str, name: str) -> str:
    scheme, rest = url.split("://", 1)
    authority = rest.split("/", 1)[0].split("?", 1)[0]
    query = rest.split("?", 1)[1] if "?" in rest else None
    return f"{scheme}://{authority}/{name}" + (f"?{query}" if query else "")


def _psql(url: str, sql: str) -> None:
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True,
                   stdout=subprocess.DEVNULL)


class Registry:
    """A running registry and helpers to call it as a tenant would."""

    def __init__(self, base: str, operator_key: str):
        self.base = base
        self.operator_key = operator_key

    def call(self, method: str, path: str, key: str | None = None, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if key:
            req.add_header("Authorization", f"Bearer {key}")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def tenant_key(self, tenant: str, scopes: list[str]) -> str:
        status, _ = self.call("POST", "/api/v1/tenants", self.operator_key,
                              {"id": tenant, "display_name": tenant})
        assert status in (201, 409)
        status, body = self.call("POST", "/api/v1/api-keys", self.operator_key,
                                 {"name": f"e2e-{uuid.uuid4().hex}", "scopes": scopes,
                                  "tenant_id": tenant})
        assert status == 201, body
        return body["key"]


@contextlib.contextmanager
def running_registry(extra_env: dict | None = None):
    """Starts the registry on a fresh database and stops it (and drops the
    database) on leaving; `extra_env` adds server settings, e.g. a low
    HALL_RATE_LIMIT_PER_MINUTE."""
    binary = os.environ["HALL_REGISTRY_BIN"]
    admin_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    db_name = f"hall_e2e_{uuid.uuid4().hex}"
    _psql(admin_url, f"CREATE DATABASE {db_name}")
    port = _free_port()
    operator_key = f"phk_e2e_operator_{uuid.uuid4().hex}"
    data_dir = tempfile.mkdtemp(prefix="hall-e2e-")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": _with_database(admin_url, db_name),
        "HALL_LISTEN": f"127.0.0.1:{port}",
        "HALL_DATA_DIR": data_dir,
        "HALL_BOOTSTRAP_API_KEY": operator_key,
        "HALL_LOG_LEVEL": "warn",
        **(extra_env or {}),
    }
    log = open(os.path.join(data_dir, "server.log"), "w")
    proc = subprocess.Popen([binary], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"hall-registry exited with {proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(base + "/health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("hall-registry did not answer /health within 30 s")
                time.sleep(0.1)
        yield Registry(base, operator_key)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        _psql(admin_url, f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")


@pytest.fixture(scope="module")
def registry():
    with running_registry() as started:
        yield started


@pytest.fixture(scope="session")
def start_registry():
    """`running_registry` for test modules that need a registry with their own settings."""
    return running_registry
