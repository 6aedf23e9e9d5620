"""``hall.policy``: reading the tenant's policy and setting its approval TTL."""

from __future__ import annotations

import json
from typing import Any, Dict

import httpx
import pytest

from hall_registry import Hall, InvalidRequest, Policy
from mock_registry import KEY, REGISTRY, Script, error


def policy(ttl: int = 3600) -> Dict[str, Any]:
    return {
        "attestation": {"require_signature": False, "require_approval": False},
        "decisions": {
            "tier_floors": {"prod": 4},
            "signatories": [],
            "attestation_max_age_days": None,
            "l7_supervisor_level": "gatekeeper",
            "default_data_label": "RESTRICTED",
            "egress_allowlist": {},
            "approval_ttl_seconds": ttl,
        },
    }


def hall_with(script: Script) -> Hall:
    return Hall(KEY, REGISTRY, retries=0, transport=httpx.MockTransport(script))


def test_get_reads_the_approval_ttl() -> None:
    script = Script(httpx.Response(200, json=policy(900)))
    with hall_with(script) as hall:
        p = hall.policy.get()
    assert isinstance(p, Policy)
    assert p.approval_ttl_seconds == 900
    assert p.decisions["tier_floors"] == {"prod": 4}
    assert script.requests[0].method == "GET"
    assert script.requests[0].url.path == "/api/v1/policy"


def test_set_approval_ttl_keeps_the_rest_of_the_decision_policy() -> None:
    script = Script(httpx.Response(200, json=policy()), httpx.Response(200, json=policy(600)))
    with hall_with(script) as hall:
        p = hall.policy.set_approval_ttl(600)
    assert p.approval_ttl_seconds == 600
    put = script.requests[1]
    assert put.method == "PUT" and put.url.path == "/api/v1/policy"
    sent = json.loads(put.content)
    assert sent == {"decisions": {**policy()["decisions"], "approval_ttl_seconds": 600}}


def test_an_out_of_range_ttl_is_an_invalid_request() -> None:
    refused = error(400, "invalid_field", "decisions.approval_ttl_seconds must be from 60 to 604800")
    script = Script(httpx.Response(200, json=policy()), refused)
    with hall_with(script) as hall:
        with pytest.raises(InvalidRequest) as exc:
            hall.policy.set_approval_ttl(30)
    assert exc.value.code == "invalid_field"
