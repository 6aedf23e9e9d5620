"""``Hall`` and ``AsyncHall``: the clients the seed SDK's code is written against."""

from __future__ import annotations

import asyncio
import functools
import inspect
from typing import Any, Awaitable, Callable, Mapping, Optional, TypeVar, Union, cast

import httpx

from ._version import __version__
from ._config import ClientConfig
from ._http import AsyncRunner, AsyncTransport, RetryPolicy, SyncRunner, SyncTransport
from .errors import DecisionDenied
from .models import Decision
from .resources import (
    Approvals,
    Audit,
    Auth,
    BanList,
    Decisions,
    Namespaces,
    Router,
    Rules,
    TenantPolicy,
    Webhooks,
    Workers,
)

__all__ = ["Hall", "AsyncHall", "DEFAULT_TIMEOUT"]

#: Seconds to wait for the registry (connect, and each read). A decision that
#: repeats an in-flight one waits for the original's answer, so this is not
#: made tight.
DEFAULT_TIMEOUT = 10.0

F = TypeVar("F", bound=Callable[..., Any])


def _policy(retries: Union[int, RetryPolicy]) -> RetryPolicy:
    if isinstance(retries, RetryPolicy):
        return retries
    if retries < 0:
        raise ValueError("retries must be 0 or more")
    return RetryPolicy(retries=retries)


def _headers(config: ClientConfig, extra: Optional[Mapping[str, str]]) -> dict:
    headers = {
        "Authorization": f"Bearer {config.api_key}",
        "Accept": "application/json",
        "User-Agent": f"hall-registry-python/{__version__}",
    }
    headers.update(extra or {})
    return headers


def _denied_message(capability: str, worker_id: str, decision: Decision) -> str:
    # The seed decorator's wording, plus the stable code.
    code = f" [{decision.deny_code}]" if decision.deny_code else ""
    return f"pyhall denied {capability} for {worker_id}: {decision.deny_reason}{code}"


class _HallBase:
    """What both clients share: configuration and how they present themselves."""

    _config: ClientConfig

    @property
    def registry(self) -> str:
        """The registry URL this client talks to."""
        return self._config.registry

    @property
    def config(self) -> ClientConfig:
        """The resolved settings (``repr`` hides the key)."""
        return self._config

    def __repr__(self) -> str:
        # Never the key: a client object may end up in a log line or a traceback.
        return f"{type(self).__name__}(registry={self._config.registry!r})"


class Hall(_HallBase):
    """The synchronous client.

    ``api_key`` defaults to ``PYHALL_API_KEY``; ``registry`` to
    ``PYHALL_REGISTRY``, then ``PYHALL_REGISTRY_URL``, then
    ``http://127.0.0.1:8765``. ``namespace`` (default ``PYHALL_NAMESPACE``)
    is the namespace :meth:`Workers.register` uses when given none; ``env``
    (default ``PYHALL_ENV``, else ``"dev"``) the env of
    :meth:`Decisions.make`. ``retries`` is how many times a failed request
    that may be repeated is tried again (or a :class:`RetryPolicy`).
    ``transport`` replaces httpx's network transport (for tests, proxies,
    custom TLS).

    Use it as a context manager, or call :meth:`close`, to release its
    connections.
    """

    def __init__(
        self,
        api_key: Optional[str] = None,
        registry: Optional[str] = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: Union[int, RetryPolicy] = 3,
        namespace: Optional[str] = None,
        env: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        transport: Optional[httpx.BaseTransport] = None,
    ) -> None:
        self._config = ClientConfig.resolve(api_key, registry, namespace=namespace, env=env)
        self._http = httpx.Client(
            base_url=self._config.registry,
            headers=_headers(self._config, headers),
            timeout=timeout,
            transport=transport,
        )
        runner = SyncRunner(SyncTransport(self._http, _policy(retries)))
        self.workers: Workers[SyncRunner] = Workers(runner, self._config)
        self.decisions: Decisions[SyncRunner] = Decisions(runner, self._config)
        self.namespaces: Namespaces[SyncRunner] = Namespaces(runner, self._config)
        self.approvals: Approvals[SyncRunner] = Approvals(runner, self._config)
        self.ban_list: BanList[SyncRunner] = BanList(runner, self._config)
        self.audit: Audit[SyncRunner] = Audit(runner, self._config)
        self.auth: Auth[SyncRunner] = Auth(runner, self._config)
        self.rules: Rules[SyncRunner] = Rules(runner, self._config)
        self.webhooks: Webhooks[SyncRunner] = Webhooks(runner, self._config)
        self.policy: TenantPolicy[SyncRunner] = TenantPolicy(runner, self._config)
        #: Route a capability request by your tenant's routing rules (WCP §4):
        #: ``hall.route("cap.doc.summarize", data_label="INTERNAL")``.
        self.route = Router(runner, self._config).route

    def close(self) -> None:
        """Close the client's connections; it cannot be used afterwards."""
        self._http.close()

    def __enter__(self) -> "Hall":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def governed(
        self,
        capability: str,
        worker_id: str,
        *,
        env: Optional[str] = None,
        data_label: str = "PUBLIC",
        tenant_id: Optional[str] = None,
    ) -> Callable[[F], F]:
        """Decorator: the function runs only when the registry allows it, each call.

        The seed's decorator, shipped: every call first asks for a decision
        (``env`` defaulting to ``PYHALL_ENV``, ``data_label`` to ``PUBLIC``
        as in the seed). A deny raises :class:`DecisionDenied` (a
        ``PermissionError``) and the function does not run. It fails
        closed: if no decision can be had — the registry is unreachable,
        the key is refused — the exception propagates and the function does
        not run either. Works on ``async def`` functions too; their decision
        is asked in a worker thread (``asyncio.to_thread``) so the event loop is
        not blocked.
        """

        def decide() -> None:
            decision = self.decisions.make(
                worker_id, capability, env, data_label=data_label, tenant_id=tenant_id
            )
            if decision.denied:
                raise DecisionDenied(
                    _denied_message(capability, worker_id, decision), decision=decision
                )

        def decorator(fn: F) -> F:
            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    await asyncio.to_thread(decide)
                    return await fn(*args, **kwargs)

                return cast(F, async_wrapper)

            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                decide()
                return fn(*args, **kwargs)

            return cast(F, wrapper)

        return decorator


class AsyncHall(_HallBase):
    """The asynchronous client: the same resources and methods as :class:`Hall`, awaited.

    ``async with AsyncHall() as hall: decision = await hall.decisions.make(...)``;
    listings are async iterators (``async for worker in hall.workers.list()``).
    Configuration is :class:`Hall`'s.
    """

    def __init__(
        self,
        api_key: Optional[str] = None,
        registry: Optional[str] = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: Union[int, RetryPolicy] = 3,
        namespace: Optional[str] = None,
        env: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        transport: Optional[httpx.AsyncBaseTransport] = None,
    ) -> None:
        self._config = ClientConfig.resolve(api_key, registry, namespace=namespace, env=env)
        self._http = httpx.AsyncClient(
            base_url=self._config.registry,
            headers=_headers(self._config, headers),
            timeout=timeout,
            transport=transport,
        )
        runner = AsyncRunner(AsyncTransport(self._http, _policy(retries)))
        self.workers: Workers[AsyncRunner] = Workers(runner, self._config)
        self.decisions: Decisions[AsyncRunner] = Decisions(runner, self._config)
        self.namespaces: Namespaces[AsyncRunner] = Namespaces(runner, self._config)
        self.approvals: Approvals[AsyncRunner] = Approvals(runner, self._config)
        self.ban_list: BanList[AsyncRunner] = BanList(runner, self._config)
        self.audit: Audit[AsyncRunner] = Audit(runner, self._config)
        self.auth: Auth[AsyncRunner] = Auth(runner, self._config)
        self.rules: Rules[AsyncRunner] = Rules(runner, self._config)
        self.webhooks: Webhooks[AsyncRunner] = Webhooks(runner, self._config)
        self.policy: TenantPolicy[AsyncRunner] = TenantPolicy(runner, self._config)
        #: Route a capability request by your tenant's routing rules (WCP §4):
        #: ``hall.route("cap.doc.summarize", data_label="INTERNAL")``.
        self.route = Router(runner, self._config).route

    async def aclose(self) -> None:
        """Close the client's connections; it cannot be used afterwards."""
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncHall":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    def governed(
        self,
        capability: str,
        worker_id: str,
        *,
        env: Optional[str] = None,
        data_label: str = "PUBLIC",
        tenant_id: Optional[str] = None,
    ) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
        """Decorator for ``async def`` functions; see :meth:`Hall.governed`.

        A plain function cannot wait for an async client without blocking
        (or lacking) an event loop, so decorating one is a ``TypeError``:
        use :class:`Hall` for synchronous code.
        """

        def decorator(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
            if not inspect.iscoroutinefunction(fn):
                raise TypeError(
                    f"AsyncHall.governed needs an async function, and {fn.__qualname__} is not; "
                    "use Hall.governed for synchronous code"
                )

            @functools.wraps(fn)
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                decision = await self.decisions.make(
                    worker_id, capability, env, data_label=data_label, tenant_id=tenant_id
                )
                if decision.denied:
                    raise DecisionDenied(
                        _denied_message(capability, worker_id, decision), decision=decision
                    )
                return await fn(*args, **kwargs)

            return wrapper

        return decorator
