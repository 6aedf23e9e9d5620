"""The governed decorator fails closed: the function runs only after an ALLOW."""

from __future__ import annotations

from typing import List

import httpx
import pytest

from hall_registry import AsyncHall, AuthenticationError, DecisionDenied, Hall, RegistryUnavailable
from mock_registry import KEY, REGISTRY, Script, decision_json, error


def test_allow_runs_deny_raises_a_permission_error(no_sleep: List[float]) -> None:
    script = Script(httpx.Response(200, json=decision_json()), httpx.Response(200, json=decision_json(denied=True)))
    ran: List[int] = []
    with Hall(KEY, REGISTRY, transport=httpx.MockTransport(script)) as hall:
        @hall.governed("cap.data.read.v1", worker_id="wrk_1", env="prod", data_label="INTERNAL")
        def work(n: int) -> int:
            ran.append(n)
            return n + 1

        assert work(1) == 2
        with pytest.raises(PermissionError) as raised:
            work(2)
    assert ran == [1]
    assert isinstance(raised.value, DecisionDenied) and raised.value.decision.denied
    assert "DENY_CAPABILITY_NOT_DECLARED" in str(raised.value)
    body = script.bodies()[0]
    assert body["env"] == "prod" and body["data_label"] == "INTERNAL" and body["worker_id"] == "wrk_1"


@pytest.mark.parametrize("failure", [httpx.ConnectError("refused"), error(401, "unauthorized", "bad key")])
def test_no_decision_means_the_function_does_not_run(failure: object, no_sleep: List[float]) -> None:
    script = Script(*[failure] * 4)
    ran: List[int] = []
    with Hall(KEY, REGISTRY, transport=httpx.MockTransport(script)) as hall:
        @hall.governed("cap.data.read.v1", worker_id="wrk_1")
        def work() -> None:
            ran.append(1)

        with pytest.raises((RegistryUnavailable, AuthenticationError)):
            work()
    assert ran == []


@pytest.mark.anyio
async def test_async_functions_are_governed_too(no_sleep: List[float]) -> None:
    script = Script(httpx.Response(200, json=decision_json(denied=True)), httpx.ConnectError("refused"))
    ran: List[int] = []
    async with AsyncHall(KEY, REGISTRY, retries=0, transport=httpx.MockTransport(script)) as hall:
        @hall.governed("cap.data.read.v1", worker_id="wrk_1")
        async def work() -> None:
            ran.append(1)

        with pytest.raises(DecisionDenied):
            await work()
        with pytest.raises(RegistryUnavailable):
            await work()
        with pytest.raises(TypeError):
            hall.governed("cap.data.read.v1", worker_id="wrk_1")(lambda: None)  # type: ignore[arg-type,return-value]
    assert ran == []
