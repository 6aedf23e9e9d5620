"""The pyhall-wcp 0.2.2 ban-list calls and CLI commands against our registry."""

import os
import subprocess
import sys
import urllib.error

import pytest
from pyhall.registry_client import BanEntry, RegistryClient

BANNED = "d" * 64
CLEAN = "e" * 64


def pyhall_cli(registry, *args):
    exe = os.path.join(os.path.dirname(sys.executable), "pyhall")
    env = {**os.environ, "PYHALL_REGISTRY_URL": registry.base, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([exe, "registry", *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def session(registry):
    """A tenant's session token (what the SDK sends as the pyhall_session cookie)."""
    key = registry.tenant_key("org.bans", ["workers:write", "read"])
    status, token = registry.call("POST", "/api/v1/auth/token", key)
    assert status == 200, token
    status, _ = registry.call("POST", "/api/v1/workers", key,
                              {"name": "suspect", "namespace": "x.bans", "capabilities": ["cap.a.b"]})
    assert status == 201
    status, _ = registry.call("PUT", "/api/v1/workers/x.bans.suspect/attest", key,
                              {"sha256": BANNED, "ai_generated": False})
    assert status == 200
    return token["token"]


def test_report_hash_with_a_session_cookie_is_stored_unconfirmed(registry, session):
    client = RegistryClient(base_url=registry.base, session_token=session)
    client.report_hash(BANNED, "steals credentials", "https://example.org/evidence")
    assert not client.is_hash_banned(BANNED), "a report alone must not ban"
    status, pending = registry.call("GET", "/api/v1/ban-list/reports?status=pending", registry.operator_key)
    assert status == 200
    assert [r["sha256"] for r in pending["reports"]] == [BANNED]


def test_report_hash_without_credentials_is_refused(registry):
    with pytest.raises(urllib.error.HTTPError) as err:
        RegistryClient(base_url=registry.base).report_hash(CLEAN, "no credentials")
    assert err.value.code == 401


def test_confirmed_ban_reaches_get_ban_list_is_hash_banned_and_verify(registry, session):
    status, pending = registry.call("GET", "/api/v1/ban-list/reports?status=pending", registry.operator_key)
    report_id = pending["reports"][0]["id"]
    status, _ = registry.call("POST", f"/api/v1/ban-list/reports/{report_id}/confirm", registry.operator_key)
    assert status == 200

    client = RegistryClient(base_url=registry.base)
    entries = client.get_ban_list()
    assert entries and all(isinstance(e, BanEntry) for e in entries)
    entry = next(e for e in entries if e.sha256 == BANNED)
    assert entry.reason == "steals credentials"
    assert entry.source == "community"
    assert entry.review_status == "approved"
    assert entry.reported_at
    assert client.is_hash_banned(BANNED)
    assert not client.is_hash_banned(CLEAN)
    assert len(client.get_ban_list(limit=1)) == 1

    v = client.verify("x.bans.suspect")
    assert v.status == "banned" and v.banned is True
    assert v.current_hash == BANNED
    assert client.get_worker_hash("x.bans.suspect") is None


def test_cli_ban_list_and_check_hash(registry, session):
    out = pyhall_cli(registry, "ban-list")
    assert out.returncode == 0, out.stderr
    assert BANNED[:12] in out.stdout
    assert "steals credentials" in out.stdout

    out = pyhall_cli(registry, "check-hash", BANNED)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "BANNED" in out.stdout

    out = pyhall_cli(registry, "check-hash", CLEAN)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "CLEAN" in out.stdout
