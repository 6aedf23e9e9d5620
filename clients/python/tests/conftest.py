"""Unit tests of the client: no server, httpx.MockTransport answers instead."""

from __future__ import annotations

from typing import List

import pytest

from hall_registry._config import API_KEY_VARIABLE, ENV_VARIABLE, NAMESPACE_VARIABLE, REGISTRY_VARIABLES


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without the PYHALL_* variables of whoever runs it."""
    for name in (API_KEY_VARIABLE, ENV_VARIABLE, NAMESPACE_VARIABLE, *REGISTRY_VARIABLES):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> List[float]:
    """Records the client's waits between retries instead of sleeping them."""
    waits: List[float] = []

    def record(seconds: float) -> None:
        waits.append(seconds)

    async def record_async(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr("hall_registry._http.time.sleep", record)
    monkeypatch.setattr("hall_registry._http.asyncio.sleep", record_async)
    return waits
