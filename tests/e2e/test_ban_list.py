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


# --- the Python client's review list: filters, pages, the daily quota ------


def test_hall_client_pages_and_filters_the_review_list_and_raises_rate_limited_over_the_quota(start_registry):
    from hall_registry import Hall, RateLimited

    with start_registry({"HALL_BAN_REPORTS_PER_DAY": "3"}) as reg:
        a = Hall(reg.tenant_key("org.repa", ["read"]), reg.base, retries=0)
        b = Hall(reg.tenant_key("org.repb", ["read"]), reg.base, retries=0)
        operator = Hall(reg.operator_key, reg.base, retries=0)
        hashes = [c * 64 for c in "123"]
        filed = [a.ban_list.report(h, "suspicious").id for h in hashes]
        filed.append(b.ban_list.report(hashes[0], "also suspicious").id)

        first = operator.ban_list.reports(limit=3)
        assert len(first) == 3 and first.next_cursor
        second = operator.ban_list.reports(limit=3, cursor=first.next_cursor)
        assert second.next_cursor is None
        assert [r.id for r in first] + [r.id for r in second] == filed
        assert [r.id for r in operator.ban_list.iter_reports(page_size=1)] == filed
        assert [r.id for r in operator.ban_list.iter_reports(sha256=hashes[0])] == [filed[0], filed[3]]
        by_b = operator.ban_list.reports(reporter_tenant="org.repb")
        assert [r.reason for r in by_b] == ["also suspicious"]
        assert len(operator.ban_list.reports(status="confirmed")) == 0

        with pytest.raises(RateLimited) as over:
            a.ban_list.report("4" * 64, "one too many")
        assert over.value.code == "quota_exceeded"
        for hall in (a, b, operator):
            hall.close()
