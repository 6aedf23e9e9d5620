"""``hall.route``: the WCP router's decision, from the body sent to the fields read."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, Dict

import httpx
import pytest

from hall_registry import AsyncHall, Hall, InvalidRequest, RegistryUnavailable, RouteDecision
from mock_registry import KEY, REGISTRY, Script, decision_json, error


def route_json(**overrides: Any) -> Dict[str, Any]:
    body = decision_json(
        worker_id="x.acme.summarizer",
        capability_id="cap.doc.summarize",
        outcome="ALLOW",
        selected_worker_species_id="wrk.doc.summarizer",
        timestamp="2026-11-26T01:00:00.000000Z",
        matched_rule_id="rr_doc",
        selected_worker_id="x.acme.summarizer",
        tenant_risk="low",
        qos_class="P2",
        rules_version="4",
        dry_run=False,
        deny_reason_if_denied=None,
        blast_score=3,
        blast_gate_passed=True,
        privilege_envelope_ok=True,
        required_controls_effective=["ctrl.obs.audit-log-append-only"],
        recommended_profiles_effective=[],
        escalation_effective={"policy_gate": False, "human_required_default": False},
        candidate_workers_ranked=[{"worker_species_id": "wrk.doc.summarizer", "skip_reason": None}],
        telemetry_envelopes=[{"event_id": "evt.os.task.routed"}, {"event_id": "evt.os.worker.selected"},
                             {"event_id": "evt.os.policy.gated"}],
    )
    body.update(overrides)
    return body


def test_route_sends_a_route_input_and_reads_every_route_field() -> None:
    script = Script(httpx.Response(200, json=route_json()))
    with Hall(KEY, REGISTRY, retries=0, transport=httpx.MockTransport(script)) as hall:
        d = hall.route("cap.doc.summarize", "prod", data_label="INTERNAL", qos_class="P1",
                       request={"doc": "x"}, blast_score=4)
    assert isinstance(d, RouteDecision)
    assert (d.allowed, d.outcome, d.matched_rule_id) == (True, "ALLOW", "rr_doc")
    assert (d.selected_worker_species_id, d.selected_worker_id) == ("wrk.doc.summarizer", "x.acme.summarizer")
    assert (d.rules_version, d.blast_score, d.privilege_envelope_ok) == ("4", 3, True)
    assert d.required_controls_effective == ("ctrl.obs.audit-log-append-only",)
    assert [e["event_id"] for e in d.telemetry_envelopes] == [
        "evt.os.task.routed", "evt.os.worker.selected", "evt.os.policy.gated"]
    request = script.requests[0]
    assert (request.method, request.url.path) == ("POST", "/api/v1/route")
    body = json.loads(request.content)
    assert uuid.UUID(body.pop("correlation_id"))
    assert body == {"capability_id": "cap.doc.summarize", "env": "prod", "data_label": "INTERNAL",
                    "tenant_risk": "low", "qos_class": "P1", "dry_run": False,
                    "request": {"doc": "x"}, "blast_score": 4}


def test_an_omitted_label_is_left_to_the_tenants_default() -> None:
    script = Script(httpx.Response(200, json=route_json(data_label="RESTRICTED")))
    with Hall(KEY, REGISTRY, retries=0, env="stage", transport=httpx.MockTransport(script)) as hall:
        d = hall.route("cap.doc.summarize", correlation_id="3f2504e0-4f89-41d3-9a0c-0305e82c3301")
    body = script.bodies()[0]
    assert "data_label" not in body and body["env"] == "stage"
    assert body["correlation_id"] == "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
    assert d.data_label == "RESTRICTED"


def test_a_denied_route_is_a_result_with_its_reason_not_an_exception() -> None:
    denied = route_json(denied=True, outcome="DENY", deny_code="DENY_NO_MATCHING_RULE",
                        deny_reason="no routing rule matched", matched_rule_id="NO_MATCH",
                        selected_worker_id=None, selected_worker_species_id=None, blast_score=None,
                        deny_reason_if_denied={"code": "DENY_NO_MATCHING_RULE", "message": "no routing rule matched"},
                        telemetry_envelopes=[{"event_id": "evt.os.task.denied"}])
    script = Script(httpx.Response(200, json=denied))
    with Hall(KEY, REGISTRY, retries=0, transport=httpx.MockTransport(script)) as hall:
        d = hall.route("cap.zz.unknown", data_label="PUBLIC")
    assert (d.denied, d.deny_code, d.matched_rule_id) == (True, "DENY_NO_MATCHING_RULE", "NO_MATCH")
    assert d.deny_reason_if_denied == {"code": "DENY_NO_MATCHING_RULE", "message": "no routing rule matched"}
    assert d.selected_worker_id is None and d.blast_score is None


def test_a_refused_input_raises_naming_the_field() -> None:
    script = Script(error(400, "invalid_request", 'qos_class "P9" is not one of P0, P1, P2 or P3'))
    with Hall(KEY, REGISTRY, retries=0, transport=httpx.MockTransport(script)) as hall:
        with pytest.raises(InvalidRequest, match="qos_class"):
            hall.route("cap.doc.summarize", data_label="PUBLIC", qos_class="P9")


def test_a_route_that_may_have_reached_the_registry_is_not_sent_twice() -> None:
    # A 503 after sending: the registry may have decided (and receipted); no retry.
    script = Script(error(503, "unavailable", "the decision's receipt could not be committed"))
    with Hall(KEY, REGISTRY, retries=3, transport=httpx.MockTransport(script)) as hall:
        with pytest.raises(RegistryUnavailable):
            hall.route("cap.doc.summarize", data_label="PUBLIC")
    assert len(script.requests) == 1


def test_the_async_client_routes_alike() -> None:
    script = Script(httpx.Response(200, json=route_json()))

    async def main() -> RouteDecision:
        async with AsyncHall(KEY, REGISTRY, retries=0, transport=httpx.MockTransport(script)) as hall:
            return await hall.route("cap.doc.summarize", data_label="PUBLIC")

    d = asyncio.run(main())
    assert d.matched_rule_id == "rr_doc" and script.requests[0].url.path == "/api/v1/route"
