"""No repr — of a client, its settings or a result — shows a credential."""

from __future__ import annotations

import httpx

from hall_registry import AsyncHall, Hall, SessionToken
from hall_registry._config import ClientConfig
from mock_registry import KEY, REGISTRY


def test_clients_and_their_settings_hide_the_key() -> None:
    hall = Hall(KEY, REGISTRY)
    async_hall = AsyncHall(KEY, REGISTRY)
    for shown in (repr(hall), repr(async_hall), repr(hall.config), str(hall.config),
                  repr(ClientConfig.resolve(KEY, REGISTRY)), repr(hall.workers)):
        assert KEY not in shown
        assert "phk_" not in shown
    assert REGISTRY in repr(hall)
    hall.close()


def test_a_session_token_is_not_shown() -> None:
    token = SessionToken.from_api({
        "token": "eyJhbGciOiJFZERTQSJ9.secret-part.signature",
        "token_type": "Bearer",
        "expires_at": "2026-11-25T18:04:54.755446Z",
        "tenant_id": "org.acme",
        "scopes": ["read"],
    })
    assert "secret-part" not in repr(token)
    assert "secret-part" not in str(token)
    assert token.token.startswith("eyJ")


def test_the_key_is_sent_as_a_bearer_token() -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, json={"namespace": "x.a", "status": "available"})

    with Hall(KEY, REGISTRY, transport=httpx.MockTransport(handler)) as hall:
        hall.namespaces.check("x.a")
    assert seen == [f"Bearer {KEY}"]
