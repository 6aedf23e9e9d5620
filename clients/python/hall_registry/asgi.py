"""Governance middleware for ASGI applications (FastAPI, Starlette, anything ASGI).

The seed's FastAPI example reads ``X-Worker-ID`` and ``X-Capability`` and
asks for a decision before the request reaches the app. It raises
``HTTPException`` inside ``@app.middleware("http")``, which Starlette turns
into a 500, and it calls the synchronous client from the event loop, which
stalls every other request while the registry answers. This middleware does
what the example meant:

- a deny answers **403** ``{"detail": <deny_reason>, "deny_code", "decision_id",
  "proof"}`` (``detail`` as FastAPI's ``HTTPException`` writes it) and the app
  never sees the request;
- no decision — the registry is unreachable, or refuses the middleware's own
  key — answers **503** (fail closed), never passes the request through;
- a malformed header value the registry rejects answers **400**;
- the decision is asked with :class:`~hall_registry.AsyncHall`, so the event
  loop keeps serving other requests meanwhile.

It is plain ASGI (no Starlette import), used as::

    from fastapi import FastAPI
    from hall_registry.asgi import HallMiddleware

    app = FastAPI()
    app.add_middleware(HallMiddleware, env="prod", data_label="INTERNAL")

An allowed decision is put in the request's state
(``request.state.hall_decision``) for the endpoint to log or return.
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable, Dict, MutableMapping, Optional

from .client import AsyncHall
from .errors import HallError, InvalidRequest, RegistryUnavailable
from .models import Decision

__all__ = ["HallMiddleware", "WORKER_HEADER", "CAPABILITY_HEADER"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The seed's header names (ASGI spells header names in lower case).
WORKER_HEADER = b"x-worker-id"
CAPABILITY_HEADER = b"x-capability"


class HallMiddleware:
    """Asks the registry before every request that names a worker and a capability.

    ``hall`` is the :class:`AsyncHall` to ask; without one, the middleware
    makes its own from the environment (``PYHALL_API_KEY`` …) on the first
    governed request — it is made lazily so that it belongs to the event
    loop that serves requests. ``env`` and ``data_label`` are those of every
    decision (the seed uses ``"prod"`` and ``"INTERNAL"``; ``env`` defaults to
    ``PYHALL_ENV``). Requests without both headers pass untouched, as in the
    seed, unless ``require_headers`` is set: then they are refused with 403.
    """

    def __init__(
        self,
        app: ASGIApp,
        hall: Optional[AsyncHall] = None,
        *,
        env: Optional[str] = None,
        data_label: str = "INTERNAL",
        tenant_id: Optional[str] = None,
        require_headers: bool = False,
    ) -> None:
        self.app = app
        self._hall = hall
        self.env = env
        self.data_label = data_label
        self.tenant_id = tenant_id
        self.require_headers = require_headers

    def _client(self) -> AsyncHall:
        if self._hall is None:
            self._hall = AsyncHall()
        return self._hall

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        worker_id = headers.get(WORKER_HEADER)
        capability = headers.get(CAPABILITY_HEADER)
        if not (worker_id and capability):
            if self.require_headers:
                await _answer(send, 403, {
                    "detail": "X-Worker-ID and X-Capability headers are required",
                })
                return
            await self.app(scope, receive, send)
            return
        try:
            decision = await self._client().decisions.make(
                worker_id,
                capability,
                self.env,
                data_label=self.data_label,
                tenant_id=self.tenant_id,
            )
        except InvalidRequest as exc:
            await _answer(send, 400, {"detail": exc.message, "code": exc.code})
            return
        except RegistryUnavailable as exc:
            await _answer(send, 503, {
                "detail": "the governance registry is unavailable; the request was not run",
                "code": exc.code,
            })
            return
        except HallError as exc:
            # The middleware's own credential or configuration is at fault:
            # still no decision, so still closed.
            await _answer(send, 503, {
                "detail": f"no governance decision could be made: {exc}",
                "code": exc.code,
            })
            return
        if decision.denied:
            await _answer(send, 403, _denial(decision))
            return
        scope.setdefault("state", {})["hall_decision"] = decision
        await self.app(scope, receive, send)


def _headers(scope: Scope) -> Dict[bytes, str]:
    """The request's headers by lower-case name; the first of repeated ones wins."""
    found: Dict[bytes, str] = {}
    for name, value in scope.get("headers") or ():
        found.setdefault(bytes(name).lower(), bytes(value).decode("latin-1").strip())
    return found


def _denial(decision: Decision) -> Dict[str, Any]:
    body: Dict[str, Any] = {
        "detail": decision.deny_reason or "denied by the governance registry",
        "deny_code": decision.deny_code,
        "decision_id": decision.id,
        "proof": decision.proof,
    }
    if decision.pending_approval_id:
        body["pending_approval_id"] = decision.pending_approval_id
    return body


async def _answer(send: Send, status: int, body: Dict[str, Any]) -> None:
    payload = json.dumps(body).encode("utf-8")
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode("ascii")),
        ],
    })
    await send({"type": "http.response.body", "body": payload})
