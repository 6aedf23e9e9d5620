"""``hall.rules``: routing rules, versions, roll-back and golden snapshots."""

from __future__ import annotations

import json
from typing import Any, Dict

import httpx
import pytest

from hall_registry import AsyncHall, Hall, InvalidRequest, NotFound, SnapshotsFailed
from mock_registry import KEY, REGISTRY, Script, error

DOC = {"rules": [{"rule_id": "rr_a", "match": {"capability_id": "cap.doc.summarize"},
                  "decision": {"candidate_workers_ranked": [{"worker_species_id": "wrk.doc.a"}]}}]}
CASE = {"name": "dev", "input": {"capability_id": "cap.doc.summarize", "env": "dev"},
        "expect": {"matched_rule_id": "rr_a"}}


def summary(version: int, active: bool = True) -> Dict[str, Any]:
    return {
        "version": version,
        "sha256": "ab" * 32,
        "rule_count": 1,
        "created_at": "2026-11-26T01:00:00.123456789Z",
        "created_by": "0192f0c0-0000-7000-8000-000000000001",
        "comment": None,
        "active": active,
    }


def hall_with(script: Script) -> Hall:
    return Hall(KEY, REGISTRY, retries=0, transport=httpx.MockTransport(script))


def test_put_sends_the_document_itself_with_activate_and_skip_snapshots() -> None:
    script = Script(httpx.Response(201, json=summary(3, active=False)))
    with hall_with(script) as hall:
        version = hall.rules.put(DOC, activate=False, skip_snapshots=True, comment="staged")
    assert (version.version, version.active, version.rule_count) == (3, False, 1)
    request = script.requests[0]
    assert (request.method, request.url.path) == ("PUT", "/api/v1/routing/rules")
    assert dict(request.url.params) == {"activate": "false", "skip_snapshots": "true", "comment": "staged"}
    assert json.loads(request.content) == DOC


def test_get_versions_version_and_activate_read_the_answers() -> None:
    script = Script(
        httpx.Response(200, json={"version": 2, "sha256": "cd" * 32,
                                  "activated_at": "2026-11-26T01:00:00Z", "rules": DOC}),
        httpx.Response(200, json={"versions": [summary(2), summary(1, active=False)]}),
        httpx.Response(200, json={**summary(1, active=False), "rules": DOC}),
        httpx.Response(200, json={"version": 1, "changed": True}),
    )
    with hall_with(script) as hall:
        active = hall.rules.get()
        versions = hall.rules.versions()
        one = hall.rules.version(1)
        done = hall.rules.activate(1)
    assert (active.version, active.rules, active.activated_at is not None) == (2, DOC, True)
    assert [(v.version, v.active) for v in versions] == [(2, True), (1, False)]
    assert (one.version, one.active, one.rules) == (1, False, DOC)
    assert (done.version, done.changed) == (1, True)
    assert [(r.method, r.url.path) for r in script.requests] == [
        ("GET", "/api/v1/routing/rules"),
        ("GET", "/api/v1/routing/rules/versions"),
        ("GET", "/api/v1/routing/rules/versions/1"),
        ("POST", "/api/v1/routing/rules/versions/1/activate"),
    ]


def test_no_rules_is_not_found() -> None:
    script = Script(error(404, "no_rules", "this tenant has no routing rules in force"))
    with hall_with(script) as hall, pytest.raises(NotFound) as raised:
        hall.rules.get()
    assert raised.value.code == "no_rules"


def test_a_refused_put_because_snapshots_fail_carries_the_differences() -> None:
    body = {"error": {"code": "snapshots_failed", "message": "1 difference(s)", "differences": [
        {"case": "dev", "field": "matched_rule_id", "expected": "rr_a", "actual": None}]}}
    script = Script(httpx.Response(422, json=body))
    with hall_with(script) as hall, pytest.raises(SnapshotsFailed) as raised:
        hall.rules.put(DOC)
    diff = raised.value.differences[0]
    assert (diff.case, diff.field, diff.expected, diff.actual) == ("dev", "matched_rule_id", "rr_a", None)
    assert isinstance(raised.value, InvalidRequest) and raised.value.status == 422


def test_test_sends_only_what_is_given_and_reports_differences() -> None:
    report = {"passed": False, "cases": 1, "differences": [
        {"case": "dev", "field": "matched_rule_id", "expected": "rr_a", "actual": "rr_b"}]}
    script = Script(httpx.Response(200, json=report), httpx.Response(200, json={**report, "passed": True, "differences": []}))
    with hall_with(script) as hall:
        failed = hall.rules.test(rules=DOC, cases=[CASE])
        stored = hall.rules.test()
    assert not failed.passed and failed.differences[0].actual == "rr_b"
    assert stored.passed and stored.differences == ()
    assert script.bodies() == [{"rules": DOC, "cases": [CASE]}, {}]


def test_snapshots_get_and_put_round_trip_the_cases() -> None:
    script = Script(
        httpx.Response(200, json={"cases": [CASE], "updated_at": "2026-11-26T01:00:00Z"}),
        httpx.Response(200, json={"cases": []}),
    )
    with hall_with(script) as hall:
        put = hall.rules.snapshots.put([CASE])
        got = hall.rules.snapshots.get()
    assert put == [CASE] and got == []
    assert script.bodies()[0] == {"cases": [CASE]}
    assert (script.requests[0].method, script.requests[1].method) == ("PUT", "GET")


def test_snapshots_must_be_a_list() -> None:
    with hall_with(Script()) as hall, pytest.raises(InvalidRequest):
        hall.rules.snapshots.put({"cases": [CASE]})  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_the_async_client_has_the_same_rules() -> None:
    script = Script(httpx.Response(201, json=summary(1)), httpx.Response(200, json={"version": 1, "changed": False}))
    async with AsyncHall(KEY, REGISTRY, retries=0, transport=httpx.MockTransport(script)) as hall:
        version = await hall.rules.put(DOC)
        done = await hall.rules.activate(1)
    assert (version.version, done.changed) == (1, False)
    assert dict(script.requests[0].url.params) == {"activate": "true", "skip_snapshots": "false"}
