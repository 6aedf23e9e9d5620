"""What is retried, how long the client waits, and that a retried decision keeps its key."""

from __future__ import annotations

from typing import List

import httpx
import pytest

from hall_registry import AsyncHall, Hall, RateLimited, RegistryUnavailable, RetryPolicy
from hall_registry._http import Request, Retry
from mock_registry import KEY, REGISTRY, Script, decision_json, error

NAMESPACE = {"namespace": "x.a", "status": "available"}
WORKER_PAGE = {"workers": [], "next_cursor": None}


def hall_with(script: Script, retries: int = 3) -> Hall:
    return Hall(KEY, REGISTRY, retries=retries, transport=httpx.MockTransport(script))


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_get_is_retried_on_gateway_and_unavailable_answers(status: int, no_sleep: List[float]) -> None:
    script = Script(error(status, "unavailable", "busy"), error(status, "unavailable", "busy"),
                    httpx.Response(200, json=NAMESPACE))
    with hall_with(script) as hall:
        assert hall.namespaces.check("x.a").available
    assert len(script.requests) == 3 and len(no_sleep) == 2


def test_a_get_is_retried_on_connect_and_read_errors(no_sleep: List[float]) -> None:
    script = Script(httpx.ConnectError("refused"), httpx.ReadError("reset"), httpx.Response(200, json=NAMESPACE))
    with hall_with(script) as hall:
        hall.namespaces.check("x.a")
    assert len(script.requests) == 3


def test_retries_stop_after_the_configured_count(no_sleep: List[float]) -> None:
    script = Script(*[error(503, "unavailable", "down")] * 3)
    with hall_with(script, retries=2) as hall:
        with pytest.raises(RegistryUnavailable) as raised:
            hall.namespaces.check("x.a")
    assert raised.value.status == 503 and len(script.requests) == 3


def test_500_is_not_retried(no_sleep: List[float]) -> None:
    script = Script(error(500, "internal", "bug"))
    with hall_with(script) as hall:
        with pytest.raises(RegistryUnavailable):
            hall.namespaces.check("x.a")
    assert len(script.requests) == 1 and no_sleep == []


def test_429_waits_as_long_as_retry_after_says(no_sleep: List[float]) -> None:
    script = Script(error(429, "rate_limited", "wait", {"Retry-After": "3"}), httpx.Response(200, json=NAMESPACE))
    with hall_with(script) as hall:
        hall.namespaces.check("x.a")
    assert no_sleep == [3.0]


def test_a_retry_after_longer_than_the_limit_is_raised_not_slept(no_sleep: List[float]) -> None:
    script = Script(error(429, "rate_limited", "wait", {"Retry-After": "600"}))
    policy = RetryPolicy(retries=3, max_retry_after=30)
    with Hall(KEY, REGISTRY, retries=policy, transport=httpx.MockTransport(script)) as hall:
        with pytest.raises(RateLimited) as raised:
            hall.namespaces.check("x.a")
    assert raised.value.retry_after == 600 and no_sleep == []


def test_backoff_grows_exponentially_with_jitter_and_a_ceiling() -> None:
    policy = RetryPolicy(retries=10, backoff=0.5, max_backoff=4.0)
    for attempt, ceiling in enumerate([0.5, 1.0, 2.0, 4.0, 4.0, 4.0]):
        delays = {policy.backoff_delay(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1, "the wait must be jittered"


def test_an_ordinary_post_is_not_repeated_once_it_may_have_arrived(no_sleep: List[float]) -> None:
    for failure in (error(503, "unavailable", "down"), httpx.ReadError("reset after sending")):
        script = Script(failure)
        with hall_with(script) as hall:
            with pytest.raises(RegistryUnavailable):
                hall.namespaces.claim("x.a")
        assert len(script.requests) == 1


def test_an_ordinary_post_is_repeated_when_it_never_left(no_sleep: List[float]) -> None:
    claimed = {"namespace": "x.a", "status": "claimed", "created_at": "2026-11-25T17:04:54Z",
               "updated_at": "2026-11-25T17:04:54Z", "tenant_id": "org.acme"}
    script = Script(httpx.ConnectError("refused"), error(429, "rate_limited", "wait", {"Retry-After": "1"}),
                    httpx.Response(201, json=claimed))
    with hall_with(script) as hall:
        assert hall.namespaces.claim("x.a").status == "claimed"
    assert len(script.requests) == 3


@pytest.mark.parametrize("failure", [
    httpx.ReadError("connection reset after the request was sent"),
    httpx.ReadTimeout("no answer in time"),
    httpx.RemoteProtocolError("server disconnected without sending a response"),
    error(502, "bad_gateway", "proxy"),
    error(503, "unavailable", "receipt store busy"),
    error(504, "gateway_timeout", "proxy"),
    error(429, "rate_limited", "wait", {"Retry-After": "1"}),
])
def test_a_decision_is_retried_with_the_same_idempotency_key(failure: object, no_sleep: List[float]) -> None:
    script = Script(failure, httpx.Response(200, json=decision_json()))
    with hall_with(script) as hall:
        decision = hall.decisions.make("wrk_1", "cap.data.read.v1", data_label="PUBLIC")
    assert decision.allowed
    keys = [r.headers.get("Idempotency-Key") for r in script.requests]
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]
    first, second = script.bodies()
    assert first == second


def test_each_decision_gets_its_own_key_unless_the_caller_gives_one() -> None:
    script = Script(*[httpx.Response(200, json=decision_json())] * 3)
    with hall_with(script) as hall:
        hall.decisions.make("wrk_1", "cap.a", data_label="PUBLIC")
        hall.decisions.make("wrk_1", "cap.a", data_label="PUBLIC")
        hall.decisions.make("wrk_1", "cap.a", data_label="PUBLIC", idempotency_key="order-42")
    keys = [r.headers["Idempotency-Key"] for r in script.requests]
    assert keys[0] != keys[1] and keys[2] == "order-42"


def test_decision_body_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYHALL_ENV", "stage")
    script = Script(*[httpx.Response(200, json=decision_json())] * 2)
    with hall_with(script) as hall:
        hall.decisions.make("wrk_1", "cap.a", data_label="PUBLIC")
        hall.decisions.make("wrk_1", "cap.a", "prod", data_label="INTERNAL", tenant_id="org.acme",
                            correlation_id="c-1", request_hash="ef" * 32, dry_run=True, approval_id="ap-1")
    first, second = script.bodies()
    assert first == {"worker_id": "wrk_1", "capability": "cap.a", "env": "stage", "data_label": "PUBLIC",
                     "dry_run": False}
    assert second == {"worker_id": "wrk_1", "capability": "cap.a", "env": "prod", "data_label": "INTERNAL",
                      "dry_run": True, "tenant_id": "org.acme", "correlation_id": "c-1",
                      "request_hash": "ef" * 32, "approval_id": "ap-1"}


def test_the_retry_modes_of_requests() -> None:
    policy = RetryPolicy(retries=1)
    get = Request("GET", "/x", retry=Retry.SAFE)
    post = Request("POST", "/x", retry=Retry.UNSAFE)
    assert policy.delay_after_status(get, 0, 503, None) is not None
    assert policy.delay_after_status(post, 0, 503, None) is None
    assert policy.delay_after_status(get, 1, 503, None) is None  # retries spent
    assert policy.delay_after_status(get, 0, 400, None) is None


@pytest.mark.anyio
async def test_the_async_client_retries_the_same_way(no_sleep: List[float]) -> None:
    script = Script(httpx.ReadError("reset"), error(503, "unavailable", "busy"),
                    httpx.Response(200, json=decision_json()))
    async with AsyncHall(KEY, REGISTRY, transport=httpx.MockTransport(script)) as hall:
        decision = await hall.decisions.make("wrk_1", "cap.data.read.v1", data_label="PUBLIC")
    assert decision.allowed and len(no_sleep) == 2
    assert len({r.headers["Idempotency-Key"] for r in script.requests}) == 1


@pytest.mark.anyio
async def test_the_async_client_does_not_repeat_an_ordinary_post(no_sleep: List[float]) -> None:
    script = Script(error(503, "unavailable", "down"))
    async with AsyncHall(KEY, REGISTRY, transport=httpx.MockTransport(script)) as hall:
        with pytest.raises(RegistryUnavailable):
            await hall.workers.register(name="a", namespace="x.a", capabilities=["cap.a"])
    assert len(script.requests) == 1


def test_listings_follow_the_cursor_across_pages() -> None:
    def worker(n: int) -> dict:
        return {"id": f"wrk_{n}", "worker_id": f"x.a.w{n}", "namespace": "x.a", "name": f"w{n}",
                "tenant_id": "org.acme", "status": "active", "policy_tier": 0, "capabilities": ["cap.a"],
                "allowed_environments": [], "required_controls": [], "currently_implements": [],
                "owner": "x.a", "max_data_label": "INTERNAL", "visibility": "public", "record": {},
                "created_at": "2026-11-25T17:04:54Z", "updated_at": "2026-11-25T17:04:54Z"}

    script = Script(httpx.Response(200, json={"workers": [worker(1), worker(2)], "next_cursor": "c2"}),
                    httpx.Response(200, json={"workers": [worker(3)], "next_cursor": None}))
    with hall_with(script) as hall:
        ids = [w.id for w in hall.workers.list(namespace="x.a", page_size=2)]
    assert ids == ["wrk_1", "wrk_2", "wrk_3"]
    assert "cursor" not in script.requests[0].url.params
    assert script.requests[1].url.params["cursor"] == "c2"
    assert script.requests[1].url.params["namespace"] == "x.a"
    assert script.requests[1].url.params["limit"] == "2"
