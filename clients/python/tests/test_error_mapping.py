"""Each status the registry answers becomes its exception, carrying error.code and error.message."""

from __future__ import annotations

from typing import Type

import httpx
import pytest

from hall_registry import (
    AuthenticationError,
    Conflict,
    Hall,
    HallError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    RegistryUnavailable,
    RetryPolicy,
)
from mock_registry import KEY, REGISTRY, Script, error


@pytest.mark.parametrize("status, code, kind", [
    (400, "invalid_request", InvalidRequest),
    (401, "unauthorized", AuthenticationError),
    (403, "forbidden", PermissionDenied),
    (404, "not_found", NotFound),
    (405, "method_not_allowed", InvalidRequest),
    (409, "conflict", Conflict),
    (413, "payload_too_large", InvalidRequest),
    (415, "unsupported_media_type", InvalidRequest),
    (422, "unprocessable", InvalidRequest),
    (429, "rate_limited", RateLimited),
    (500, "internal", RegistryUnavailable),
    (503, "unavailable", RegistryUnavailable),
])
def test_status_to_exception(status: int, code: str, kind: Type[HallError]) -> None:
    script = Script(error(status, code, f"the server says {code}"))
    with Hall(KEY, REGISTRY, retries=0, transport=httpx.MockTransport(script)) as hall:
        with pytest.raises(kind) as raised:
            hall.namespaces.claim("x.taken")
    exc = raised.value
    assert isinstance(exc, HallError)
    assert exc.status == status and exc.code == code and exc.message == f"the server says {code}"
    assert code in str(exc) and f"the server says {code}" in str(exc) and str(status) in str(exc)


def test_a_conflict_is_an_invalid_request_and_permission_denied_a_permission_error() -> None:
    assert issubclass(Conflict, InvalidRequest)
    assert issubclass(PermissionDenied, PermissionError)


def test_rate_limited_carries_retry_after() -> None:
    script = Script(error(429, "rate_limited", "slow down", {"Retry-After": "7"}))
    with Hall(KEY, REGISTRY, retries=0, transport=httpx.MockTransport(script)) as hall:
        with pytest.raises(RateLimited) as raised:
            hall.workers.get("wrk_1")
    assert raised.value.retry_after == 7.0


def test_an_answer_that_is_not_the_registry_error_shape_still_says_what_came_back() -> None:
    script = Script(httpx.Response(502, text="<html>Bad gateway from the proxy</html>"))
    with Hall(KEY, REGISTRY, retries=0, transport=httpx.MockTransport(script)) as hall:
        with pytest.raises(RegistryUnavailable) as raised:
            hall.workers.get("wrk_1")
    assert raised.value.code == "http_502"
    assert "Bad gateway from the proxy" in str(raised.value)


def test_an_unreachable_registry_is_registry_unavailable(no_sleep: list) -> None:
    script = Script(*[httpx.ConnectError("connection refused")] * 3)
    policy = RetryPolicy(retries=2)
    with Hall(KEY, REGISTRY, retries=policy, transport=httpx.MockTransport(script)) as hall:
        with pytest.raises(RegistryUnavailable) as raised:
            hall.workers.get("wrk_1")
    assert raised.value.status is None and raised.value.code == "unreachable"
    assert "connection refused" in str(raised.value)
    assert len(script.requests) == 3


def test_ids_are_one_path_segment() -> None:
    script = Script(error(404, "not_found", "worker not found"))
    with Hall(KEY, REGISTRY, transport=httpx.MockTransport(script)) as hall:
        with pytest.raises(NotFound):
            hall.workers.get("../tenants/x?y=1")
    assert script.requests[0].url.raw_path == b"/api/v1/workers/..%2Ftenants%2Fx%3Fy%3D1"
