"""Signed webhooks end to end: the real server delivers to a receiver started
here, which verifies every delivery with the `standardwebhooks` package from
PyPI (not our own code): an approval.pending arrives within a second of the
REQUIRE_HUMAN decision; a receiver failing the first attempts gets the same
`webhook-id` again; a private URL is refused without the operator's
permission; a server killed with deliveries pending delivers them after its
restart; two replicas on one database deliver each event once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook as Verifier

from conftest import Registry, _free_port, _psql, _with_database
from hall_registry import Hall, InvalidRequest
from hall_registry import card as cards

TENANT_SCOPES = ["workers:write", "decisions:write", "read", "admin"]
# Private receivers allowed; retries a second apart, so a test sees them.
SETTINGS = {"HALL_WEBHOOK_ALLOW_PRIVATE": "true", "HALL_WEBHOOK_RETRY_SCHEDULE": "1,1,1,1,1"}


class Receiver:
    """An HTTP receiver on a local port: verifies each delivery with the
    endpoint's secret (by path) and answers 500 to the first `fail_first`."""

    def __init__(self, fail_first: int = 0, port: int = 0):
        self.secrets: dict[str, str] = {}
        self.got: list[dict] = []
        self.fail_first = fail_first
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                secret = receiver.secrets.get(self.path)
                try:
                    payload = Verifier(secret).verify(body, headers) if secret else None
                    verified = payload is not None
                except Exception:  # the library's verification error, or a bad secret
                    payload, verified = None, False
                with receiver.cond:
                    receiver.got.append({"path": self.path, "headers": headers, "verified": verified,
                                         "payload": payload or json.loads(body), "at": time.monotonic()})
                    failing = len(receiver.got) <= receiver.fail_first
                    receiver.cond.notify_all()
                self.send_response(500 if failing else (204 if verified else 401))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait(self, predicate, timeout: float) -> list[dict]:
        """The deliveries once `predicate(deliveries)` holds; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.got):
                left = deadline - time.monotonic()
                assert left > 0, f"timed out; received {[(g['path'], g['payload']) for g in self.got]}"
                self.cond.wait(left)
            return list(self.got)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def registry(start_registry):
    with start_registry(SETTINGS) as started:
        yield started


@pytest.fixture(scope="module")
def hall(registry):
    with Hall(registry.tenant_key("org.hooks", TENANT_SCOPES), registry.base) as client:
        yield client


def subscribe(hall: Hall, receiver: Receiver, path: str, events: list[str]):
    endpoint = hall.webhooks.create(receiver.url(path), events, description="e2e")
    receiver.secrets[path] = endpoint.secret
    return endpoint


def test_an_approval_pending_arrives_signed_within_a_second_of_the_decision(registry, hall, tmp_path):
    receiver = Receiver()
    try:
        endpoint = subscribe(hall, receiver, "/approvals", ["approval.pending"])
        namespace = unique("x.gate")
        worker = hall.workers.register(name="gate", namespace=namespace, capabilities=["cap.data.write.v1"],
                                       policy_tier=8)
        key_file = str(tmp_path / "gate.key")
        cards.generate_key_file(key_file)
        hall.namespaces.keys.add(namespace, key_file, "gate key")
        package = tmp_path / "package"
        package.mkdir()
        (package / "main.py").write_text("print('gated')\n")
        assert hall.workers.submit_attestation(worker.id, str(package), key_file).status == "attested"

        asked = hall.decisions.make(worker.id, "cap.data.write.v1", "prod", data_label="PUBLIC")
        decided_at = time.monotonic()
        assert asked.deny_code == "DENY_REQUIRES_HUMAN_APPROVAL" and asked.pending_approval_id

        got = receiver.wait(lambda g: len(g) >= 1, timeout=5)
        delivery = got[0]
        assert delivery["at"] - decided_at < 1.0, f"arrived {delivery['at'] - decided_at:.2f} s after"
        assert delivery["verified"], delivery
        assert delivery["payload"]["type"] == "approval.pending"
        data = delivery["payload"]["data"]
        assert data["approval_id"] == asked.pending_approval_id
        assert data["tenant_id"] == "org.hooks" and data["worker_id"] == worker.worker_id
        assert delivery["headers"]["webhook-id"].startswith("msg_")

        # The dispatcher records the attempt once the receiver has answered.
        deadline = time.monotonic() + 5
        while True:
            log = list(hall.webhooks.deliveries(endpoint.id))
            if log[0].state != "pending" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert [(d.event_id, d.state, d.status_code) for d in log] == [
            (delivery["headers"]["webhook-id"], "delivered", 204)]
        with urllib.request.urlopen(registry.base + "/metrics", timeout=5) as r:
            metrics = r.read().decode()
        assert 'hall_webhook_attempts_total{result="delivered"} 1' in metrics, metrics
    finally:
        receiver.close()


def test_the_tenants_approval_ttl_is_set_read_and_given_to_new_approvals(registry, tmp_path):
    # The sweep and approval.expired are timed in Rust (service tests): the
    # shortest TTL, a minute, is too long for this suite.
    with Hall(registry.tenant_key("org.ttl", TENANT_SCOPES), registry.base) as hall:
        assert hall.policy.get().approval_ttl_seconds == 3600
        hall.policy.set(decisions={"tier_floors": {"prod": 2}})
        set_ttl = hall.policy.set_approval_ttl(120)
        assert set_ttl.approval_ttl_seconds == 120
        assert set_ttl.decisions["tier_floors"] == {"prod": 2}, "the rest is kept"
        assert hall.policy.get().approval_ttl_seconds == 120
        for out in (59, 604_801):
            with pytest.raises(InvalidRequest) as refused:
                hall.policy.set_approval_ttl(out)
            assert refused.value.code == "invalid_field"
            assert "approval_ttl_seconds" in str(refused.value)
        assert hall.policy.get().approval_ttl_seconds == 120

        namespace = unique("x.ttl")
        worker = hall.workers.register(name="gate", namespace=namespace, capabilities=["cap.data.write.v1"],
                                       policy_tier=8)
        key_file = str(tmp_path / "ttl.key")
        cards.generate_key_file(key_file)
        hall.namespaces.keys.add(namespace, key_file, "ttl key")
        package = tmp_path / "ttl-package"
        package.mkdir()
        (package / "main.py").write_text("print('gated')\n")
        assert hall.workers.submit_attestation(worker.id, str(package), key_file).status == "attested"
        asked = hall.decisions.make(worker.id, "cap.data.write.v1", "prod", data_label="PUBLIC")
        assert asked.pending_approval_id
        approval = hall.approvals.get(asked.pending_approval_id)
        assert (approval.expires_at - approval.created_at).total_seconds() == 120


def test_a_receiver_failing_the_first_attempts_gets_the_same_webhook_id_later(hall):
    receiver = Receiver(fail_first=2)
    try:
        endpoint = subscribe(hall, receiver, "/flaky", ["worker.registered"])
        worker = hall.workers.register(name="flaky", namespace=unique("x.flaky"), capabilities=["cap.a"])
        got = receiver.wait(lambda g: len(g) >= 3, timeout=15)
        assert all(g["verified"] for g in got)
        assert len({g["headers"]["webhook-id"] for g in got}) == 1
        assert got[0]["payload"] == got[2]["payload"]
        assert got[2]["payload"]["data"]["worker_registry_id"] == worker.id
        deadline = time.monotonic() + 5
        while True:
            (log,) = list(hall.webhooks.deliveries(endpoint.id))
            if log.state == "delivered" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert (log.state, log.attempts, log.status_code) == ("delivered", 3, 204)
    finally:
        receiver.close()


def test_a_private_url_is_refused_without_the_operators_permission(start_registry):
    with start_registry() as plain:
        with Hall(plain.tenant_key("org.strict", TENANT_SCOPES), plain.base) as hall:
            for url in ("http://127.0.0.1:9/hook", "https://127.0.0.1/hook", "https://10.1.2.3/hook",
                        "https://169.254.169.254/latest/meta-data", "https://localhost/hook"):
                with pytest.raises(InvalidRequest) as refused:
                    hall.webhooks.create(url, ["*"])
                assert refused.value.code == "invalid_url", url
            assert hall.webhooks.list() == []
            # A public https URL is accepted.
            assert hall.webhooks.create("https://hooks.example.com/hall", ["*"]).enabled


def _start(env: dict, log_path: str) -> subprocess.Popen:
    log = open(log_path, "a")
    proc = subprocess.Popen([os.environ["HALL_REGISTRY_BIN"]], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://{env['HALL_LISTEN']}"
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, f"hall-registry exited; see {log_path}"
        try:
            with urllib.request.urlopen(base + "/health", timeout=1):
                return proc
        except OSError:
            assert time.monotonic() < deadline, "hall-registry did not start"
            time.sleep(0.1)


def _own_database(**settings) -> tuple[str, str, dict]:
    """A fresh database and the environment of one server on it, with
    `settings` on top: (admin URL, database name, environment)."""
    admin_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    db_name = f"hall_e2e_{uuid.uuid4().hex}"
    _psql(admin_url, f"CREATE DATABASE {db_name}")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": _with_database(admin_url, db_name),
        "HALL_LISTEN": f"127.0.0.1:{_free_port()}",
        "HALL_DATA_DIR": tempfile.mkdtemp(prefix="hall-e2e-"),
        "HALL_BOOTSTRAP_API_KEY": f"phk_e2e_operator_{uuid.uuid4().hex}",
        "HALL_LOG_LEVEL": "warn",
        **SETTINGS,
        **settings,
    }
    return admin_url, db_name, env


def test_killing_the_server_with_deliveries_pending_loses_none_after_restart():
    # Retries long enough that every delivery is still pending when the server dies.
    admin_url, db_name, env = _own_database(HALL_WEBHOOK_RETRY_SCHEDULE="2,2,2,2,2,2,2,2")
    port = env["HALL_LISTEN"].rsplit(":", 1)[1]
    log_path = os.path.join(env["HALL_DATA_DIR"], "server.log")
    receiver_port = _free_port()  # nothing listens there yet: every attempt fails
    proc = _start(env, log_path)
    receiver = None
    try:
        registry = Registry(f"http://127.0.0.1:{port}", env["HALL_BOOTSTRAP_API_KEY"])
        with Hall(registry.tenant_key("org.crash", TENANT_SCOPES), registry.base) as hall:
            endpoint = hall.webhooks.create(f"http://127.0.0.1:{receiver_port}/crash", ["worker.registered"])
            namespace = unique("x.crash")
            workers = [hall.workers.register(name=f"w{i}", namespace=namespace, capabilities=["cap.a"])
                       for i in range(5)]
            deadline = time.monotonic() + 10
            while True:
                log = list(hall.webhooks.deliveries(endpoint.id))
                if len(log) == 5 and all(d.attempts >= 1 for d in log):
                    break
                assert time.monotonic() < deadline, log
                time.sleep(0.1)
            assert all(d.state == "pending" for d in log)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

        receiver = Receiver(port=receiver_port)
        receiver.secrets["/crash"] = endpoint.secret
        proc = _start(env, log_path)
        got = receiver.wait(lambda g: len({x["headers"]["webhook-id"] for x in g}) >= 5, timeout=20)
        assert all(g["verified"] for g in got)
        assert {g["payload"]["data"]["worker_registry_id"] for g in got} == {w.id for w in workers}
    finally:
        if receiver:
            receiver.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        _psql(admin_url, f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")


def test_two_replicas_deliver_each_event_once():
    admin_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    db_name = f"hall_e2e_{uuid.uuid4().hex}"
    _psql(admin_url, f"CREATE DATABASE {db_name}")
    operator_key = f"phk_e2e_operator_{uuid.uuid4().hex}"
    shared = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": _with_database(admin_url, db_name),
        "HALL_BOOTSTRAP_API_KEY": operator_key,
        # Replicas share the receipt signing key, as a deployment would.
        "HALL_RECEIPT_SIGNING_KEY": "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
        "HALL_LOG_LEVEL": "warn",
        **SETTINGS,
    }
    procs, bases = [], []
    receiver = Receiver()
    try:
        for _ in range(2):
            port = _free_port()
            data_dir = tempfile.mkdtemp(prefix="hall-e2e-")
            env = {**shared, "HALL_LISTEN": f"127.0.0.1:{port}", "HALL_DATA_DIR": data_dir}
            procs.append(_start(env, os.path.join(data_dir, "server.log")))
            bases.append(f"http://127.0.0.1:{port}")
        key = Registry(bases[0], operator_key).tenant_key("org.pair", TENANT_SCOPES)
        with Hall(key, bases[0]) as first, Hall(key, bases[1]) as second:
            endpoint = first.webhooks.create(receiver.url("/pair"), ["worker.registered"])
            receiver.secrets["/pair"] = endpoint.secret
            namespace = unique("x.pair")
            first.namespaces.claim(namespace)
            workers = [(first if i % 2 else second).workers.register(
                name=f"w{i}", namespace=namespace, capabilities=["cap.a"]) for i in range(20)]
        got = receiver.wait(lambda g: len({x["headers"]["webhook-id"] for x in g}) >= 20, timeout=20)
        time.sleep(2)  # time for a duplicate to show up, if there were one
        got = receiver.wait(lambda g: True, timeout=1)
        assert all(g["verified"] for g in got)
        assert {g["payload"]["data"]["worker_registry_id"] for g in got} == {w.id for w in workers}
        assert len(got) == 20, f"{len(got)} deliveries for 20 events"
    finally:
        receiver.close()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        _psql(admin_url, f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")



def test_a_receipt_tampered_in_the_database_yields_chain_integrity_failure():
    # Its first look finds no receipts; the next is an hour away, so the
    # receipts below are still unchecked when one is tampered with.
    admin_url, db_name, env = _own_database(HALL_CHAIN_CHECK_SECS="3600")
    port = env["HALL_LISTEN"].rsplit(":", 1)[1]
    log_path = os.path.join(env["HALL_DATA_DIR"], "server.log")
    proc = _start(env, log_path)
    registry = Registry(f"http://127.0.0.1:{port}", env["HALL_BOOTSTRAP_API_KEY"])
    receiver = Receiver()
    try:
        with Hall(registry.tenant_key("org.sev1", TENANT_SCOPES), registry.base) as hall:
            subscribe(hall, receiver, "/sev1", ["chain.integrity_failure"])
            worker = hall.workers.register(name="audited", namespace=unique("x.sev1"),
                                           capabilities=["cap.data.read.v1"])
            decided = [hall.decisions.make(worker.id, "cap.data.read.v1", "dev", data_label="PUBLIC")
                       for _ in range(3)]
        # Someone with database access rewrites the second decision, the
        # append-only guard turned off.
        _psql(env["DATABASE_URL"],
              "ALTER TABLE receipts DISABLE TRIGGER receipts_append_only; "
              "UPDATE receipts SET body = jsonb_set(body::jsonb, '{env}', '\"prod\"')::json "
              "WHERE tenant_id = 'org.sev1' AND seq = 2; "
              "ALTER TABLE receipts ENABLE TRIGGER receipts_append_only")
        # Restarted to look every second, the verifier finds it.
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        proc = _start({**env, "HALL_CHAIN_CHECK_SECS": "1"}, log_path)

        got = receiver.wait(lambda g: len(g) >= 1, timeout=15)
        delivery = got[0]
        assert delivery["verified"], delivery
        assert delivery["payload"]["type"] == "chain.integrity_failure"
        data = delivery["payload"]["data"]
        assert data["tenant_id"] == "org.sev1" and data["severity"] == "sev1"
        assert (data["position"], data["kind"], data["verified_through"]) == (2, "hash_mismatch", 1)
        assert data["receipt_id"] == decided[1].receipt["receipt_id"]

        def chains() -> dict:
            status, body = registry.call("GET", "/readyz")
            assert status == 200, body  # a broken chain does not take the replica out
            return body["chains"]

        deadline = time.monotonic() + 10
        while chains()["state"] != "broken":
            assert time.monotonic() < deadline, chains()
            time.sleep(0.2)
        ready = chains()
        assert (ready["broken_chains"], ready["receipts"], ready["verified"]) == (1, 3, 1)
        with urllib.request.urlopen(registry.base + "/metrics", timeout=5) as r:
            metrics = r.read().decode()
        assert "hall_chain_broken_chains 1" in metrics
        assert "hall_chain_integrity_failures_total 1" in metrics
        with open(log_path) as log:
            lines = [line for line in log if "integrity failure" in line]
        assert lines and "ERROR" in lines[0], lines
        time.sleep(2)  # more looks: announced once, not again
        assert len(receiver.wait(lambda g: True, timeout=1)) == 1
    finally:
        receiver.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        _psql(admin_url, f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")
