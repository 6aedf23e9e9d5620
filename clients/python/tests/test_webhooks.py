"""``hall.webhooks``: endpoints, their one-time secret, the delivery log and redelivery."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict

import httpx
import pytest

from hall_registry import AsyncHall, Hall, InvalidRequest, NotFound, Webhook
from mock_registry import KEY, REGISTRY, Script, error

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
WHEP = "whep_" + "0" * 31 + "1"


def endpoint(**overrides: Any) -> Dict[str, Any]:
    body = {
        "id": WHEP,
        "url": "https://hooks.example.com/hall",
        "event_types": ["approval.pending"],
        "description": None,
        "enabled": True,
        "disabled_reason": None,
        "failing_since": None,
        "previous_secret_expires_at": None,
        "created_at": "2026-11-26T01:00:00.123456Z",
        "updated_at": "2026-11-26T01:00:00.123456Z",
    }
    body.update(overrides)
    return body


def delivery(n: int, state: str = "delivered") -> Dict[str, Any]:
    return {
        "id": f"whdl_{n:032x}",
        "event_id": f"msg_{n:032x}",
        "event_type": "approval.pending",
        "state": state,
        "attempts": 1,
        "next_attempt_at": None,
        "last_attempt_at": "2026-11-26T01:00:01Z",
        "status_code": 204,
        "latency_ms": 12,
        "error": None,
        "response_prefix": "",
        "created_at": "2026-11-26T01:00:00Z",
    }


def hall_with(script: Script) -> Hall:
    return Hall(KEY, REGISTRY, retries=0, transport=httpx.MockTransport(script))


def test_create_sends_the_endpoint_and_keeps_the_secret_out_of_repr() -> None:
    script = Script(httpx.Response(201, json={**endpoint(), "secret": SECRET}))
    with hall_with(script) as hall:
        created = hall.webhooks.create("https://hooks.example.com/hall", ["approval.pending"],
                                       description="pager")
    assert isinstance(created, Webhook)
    assert created.secret == SECRET and created.event_types == ("approval.pending",)
    assert SECRET not in repr(created) and SECRET[6:] not in repr(created)
    assert "secret" not in created.raw
    request = script.requests[0]
    assert (request.method, request.url.path) == ("POST", "/api/v1/webhooks")
    assert json.loads(request.content) == {"url": "https://hooks.example.com/hall",
                                           "event_types": ["approval.pending"], "enabled": True,
                                           "description": "pager"}


def test_update_sends_only_what_changes_and_none_removes_the_description() -> None:
    script = Script(httpx.Response(200, json=endpoint(enabled=False)),
                    httpx.Response(200, json=endpoint()))
    with hall_with(script) as hall:
        assert hall.webhooks.update(WHEP, enabled=False).enabled is False
        hall.webhooks.update(WHEP, description=None, event_types=["*"])
    assert script.bodies() == [{"enabled": False}, {"description": None, "event_types": ["*"]}]
    assert all(r.method == "PATCH" and r.url.path == f"/api/v1/webhooks/{WHEP}" for r in script.requests)


def test_list_get_delete_rotate_and_redeliver_use_their_routes() -> None:
    script = Script(
        httpx.Response(200, json={"webhooks": [endpoint()]}),
        httpx.Response(200, json=endpoint()),
        httpx.Response(200, json={**endpoint(previous_secret_expires_at="2026-11-27T01:00:00Z"),
                                  "secret": SECRET}),
        httpx.Response(202, json=delivery(7, state="pending")),
        httpx.Response(204),
    )
    with hall_with(script) as hall:
        assert [w.id for w in hall.webhooks.list()] == [WHEP]
        assert hall.webhooks.get(WHEP).url == "https://hooks.example.com/hall"
        rotated = hall.webhooks.rotate_secret(WHEP)
        again = hall.webhooks.redeliver(WHEP, "whdl_" + "0" * 31 + "7")
        assert hall.webhooks.delete(WHEP) is None
    assert rotated.secret == SECRET and rotated.previous_secret_expires_at is not None
    assert again.state == "pending" and again.event_id == f"msg_{7:032x}"
    assert [(r.method, r.url.path) for r in script.requests] == [
        ("GET", "/api/v1/webhooks"),
        ("GET", f"/api/v1/webhooks/{WHEP}"),
        ("POST", f"/api/v1/webhooks/{WHEP}/secret/rotate"),
        ("POST", f"/api/v1/webhooks/{WHEP}/deliveries/whdl_{7:032x}/redeliver"),
        ("DELETE", f"/api/v1/webhooks/{WHEP}"),
    ]


def test_deliveries_follow_the_cursor_across_pages() -> None:
    script = Script(
        httpx.Response(200, json={"deliveries": [delivery(2), delivery(1)], "next_cursor": f"whdl_{1:032x}"}),
        httpx.Response(200, json={"deliveries": [delivery(0)], "next_cursor": None}),
    )
    with hall_with(script) as hall:
        log = list(hall.webhooks.deliveries(WHEP, page_size=2))
    assert [d.id for d in log] == [f"whdl_{n:032x}" for n in (2, 1, 0)]
    assert log[0].status_code == 204 and log[0].latency_ms == 12
    assert dict(script.requests[0].url.params) == {"limit": "2"}
    assert dict(script.requests[1].url.params) == {"limit": "2", "cursor": f"whdl_{1:032x}"}


def test_refusals_map_to_the_error_classes() -> None:
    script = Script(error(422, "invalid_url", "url must use https"),
                    error(404, "not_found", "webhook endpoint whep_x not found"))
    with hall_with(script) as hall:
        with pytest.raises(InvalidRequest) as refused:
            hall.webhooks.create("http://10.0.0.1/", ["*"])
        assert refused.value.code == "invalid_url"
        with pytest.raises(NotFound):
            hall.webhooks.get("whep_x")


def test_the_async_client_has_the_same_webhooks() -> None:
    script = Script(httpx.Response(200, json={"webhooks": [endpoint()]}))

    async def run() -> list:
        async with AsyncHall(KEY, REGISTRY, retries=0, transport=httpx.MockTransport(script)) as hall:
            return await hall.webhooks.list()

    assert [w.id for w in asyncio.run(run())] == [WHEP]
