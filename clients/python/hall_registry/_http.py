"""HTTP plumbing shared by :class:`~hall_registry.Hall` and :class:`~hall_registry.AsyncHall`.

The client is "sans-IO" at its core: every resource method is written once,
as a generator that *yields* :class:`Request` descriptions and receives the
decoded JSON answers (see :mod:`hall_registry._ops`). Two thin transports —
one over ``httpx.Client``, one over ``httpx.AsyncClient`` — send those
requests, and both take every retry decision from the same
:class:`RetryPolicy`, so the sync and async clients cannot drift apart in
what they retry or how long they wait.
"""

from __future__ import annotations

import asyncio
import email.utils
import enum
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Awaitable, Callable, Generator, Iterator, List, Mapping, Optional, Tuple, Type, TypeVar

import httpx

from .errors import (
    AuthenticationError,
    Conflict,
    HallError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    RegistryUnavailable,
    SnapshotsFailed,
)

T = TypeVar("T")


class Retry(enum.Enum):
    """How a request may be repeated when its first attempt fails."""

    #: Reading (GET): repeating it changes nothing, so every transient
    #: failure is retried — connection and read errors, 429, 502/503/504.
    SAFE = "safe"
    #: A write the server deduplicates by its ``Idempotency-Key`` header
    #: (``decisions.make``): retried exactly like a read, with the same key.
    IDEMPOTENT = "idempotent"
    #: Any other write: repeated only when it certainly did not reach the
    #: server (the connection was never made) or the server refused it
    #: before doing anything (429).
    UNSAFE = "unsafe"


#: Statuses worth another attempt: a proxy or the registry is briefly unable
#: to answer. 500 is not among them: it is a bug, and repeating it only
#: repeats the bug.
RETRYABLE_STATUSES = frozenset({502, 503, 504})

#: Failures that happen before any byte of the request left this machine.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: Failures after the request may have reached the server.
_MAYBE_SENT = (
    httpx.ReadError,
    httpx.ReadTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
    httpx.RemoteProtocolError,
)


@dataclass(frozen=True)
class Request:
    """One HTTP request, described rather than sent.

    ``path`` is relative to the registry URL; ``json`` is the body (``None``
    sends none); ``params`` with ``None`` values are dropped.
    """

    method: str
    path: str
    params: Optional[Mapping[str, Any]] = None
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    retry: Retry = Retry.SAFE

    def query(self) -> Optional[dict]:
        """The query parameters as httpx wants them: no ``None``, booleans spelt as JSON."""
        if not self.params:
            return None
        out = {}
        for name, value in self.params.items():
            if value is None:
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, datetime):
                value = _rfc3339(value)
            out[name] = value
        return out


def _rfc3339(moment: datetime) -> str:
    """A datetime as the registry parses it; naive datetimes are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.isoformat()


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long to wait before trying a request again.

    ``retries`` counts the attempts *after* the first one. The n-th retry
    waits ``min(max_backoff, backoff * 2**n)``, of which a random half is
    jitter, so many clients failing together do not return together. A
    ``Retry-After`` header replaces the computed wait; one longer than
    ``max_retry_after`` is not slept through — :class:`RateLimited` (or
    :class:`RegistryUnavailable`) is raised at once with the server's figure.
    """

    retries: int = 3
    backoff: float = 0.25
    max_backoff: float = 8.0
    max_retry_after: float = 60.0

    def backoff_delay(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (0-based), with jitter."""
        ceiling = min(self.max_backoff, self.backoff * (2**attempt))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def delay_after_error(self, request: Request, attempt: int, error: Exception) -> Optional[float]:
        """Seconds to wait before retrying after a transport error, or None to give up."""
        if attempt >= self.retries:
            return None
        if isinstance(error, _NOT_SENT):
            return self.backoff_delay(attempt)
        if isinstance(error, _MAYBE_SENT) and request.retry is not Retry.UNSAFE:
            return self.backoff_delay(attempt)
        return None

    def delay_after_status(
        self, request: Request, attempt: int, status: int, retry_after: Optional[float]
    ) -> Optional[float]:
        """Seconds to wait before retrying after an HTTP status, or None to give up."""
        if attempt >= self.retries:
            return None
        if status == 429:
            # The rate limiter answers before any handler runs: safe for every method.
            pass
        elif status in RETRYABLE_STATUSES and request.retry is not Retry.UNSAFE:
            pass
        else:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        return self.backoff_delay(attempt)


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """``Retry-After`` in seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def error_for_response(response: httpx.Response) -> HallError:
    """The exception for a non-2xx answer, carrying the server's code and message.

    The registry always answers ``{"error": {"code", "message"}}``; a proxy in
    front of it may not, so anything else becomes a generic code and the
    start of the body as the message.
    """
    status = response.status_code
    code: Optional[str] = None
    message: Optional[str] = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        message = body["error"].get("message")
    if not message:
        text = response.text.strip()
        message = text[:300] if text else (response.reason_phrase or "no message")
    code = code or f"http_{status}"
    if code == "snapshots_failed" and isinstance(body, dict):
        from .models import SnapshotDifference

        found = body["error"].get("differences") or []
        differences = tuple(SnapshotDifference.from_api(d) for d in found if isinstance(d, dict))
        return SnapshotsFailed(message, code=code, status=status, differences=differences)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RateLimited(message, code=code, status=status, retry_after=retry_after)
    kind: Type[HallError]
    if status == 401:
        kind = AuthenticationError
    elif status == 403:
        kind = PermissionDenied
    elif status == 404:
        kind = NotFound
    elif status == 409:
        kind = Conflict
    elif status >= 500:
        kind = RegistryUnavailable
    else:
        kind = InvalidRequest
    return kind(message, code=code, status=status)


def error_for_transport(request: Request, error: Exception) -> RegistryUnavailable:
    """A transport failure (no answer at all) as the client's exception."""
    kind = "could not connect to" if isinstance(error, _NOT_SENT) else "lost the connection to"
    return RegistryUnavailable(
        f"{kind} the registry for {request.method} {request.path}: "
        f"{type(error).__name__}: {error or 'no detail'}",
        code="unreachable",
    )


def decode(response: httpx.Response) -> Any:
    """The JSON body of a 2xx answer (``None`` when empty)."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise RegistryUnavailable(
            f"the registry answered {response.status_code} with a body that is not JSON",
            code="invalid_response",
            status=response.status_code,
        ) from exc


class SyncTransport:
    """Sends :class:`Request` descriptions with ``httpx.Client``, retrying per policy."""

    def __init__(
        self,
        client: httpx.Client,
        policy: RetryPolicy,
        sleep: Optional[Callable[[float], None]] = None,
    ) -> None:
        self._client = client
        self._policy = policy
        self._sleep = sleep

    def send(self, request: Request) -> Any:
        attempt = 0
        while True:
            try:
                response = self._client.request(
                    request.method,
                    request.path,
                    params=request.query(),
                    json=request.json,
                    headers=dict(request.headers),
                )
            except httpx.TransportError as exc:
                delay = self._policy.delay_after_error(request, attempt, exc)
                if delay is None:
                    raise error_for_transport(request, exc) from exc
            else:
                if response.is_success:
                    return decode(response)
                delay = self._policy.delay_after_status(
                    request,
                    attempt,
                    response.status_code,
                    parse_retry_after(response.headers.get("Retry-After")),
                )
                if delay is None:
                    raise error_for_response(response)
            (self._sleep or time.sleep)(delay)
            attempt += 1


class AsyncTransport:
    """Sends :class:`Request` descriptions with ``httpx.AsyncClient``, retrying per policy."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        policy: RetryPolicy,
        sleep: Optional[Callable[[float], Awaitable[Any]]] = None,
    ) -> None:
        self._client = client
        self._policy = policy
        self._sleep = sleep

    async def send(self, request: Request) -> Any:
        attempt = 0
        while True:
            try:
                response = await self._client.request(
                    request.method,
                    request.path,
                    params=request.query(),
                    json=request.json,
                    headers=dict(request.headers),
                )
            except httpx.TransportError as exc:
                delay = self._policy.delay_after_error(request, attempt, exc)
                if delay is None:
                    raise error_for_transport(request, exc) from exc
            else:
                if response.is_success:
                    return decode(response)
                delay = self._policy.delay_after_status(
                    request,
                    attempt,
                    response.status_code,
                    parse_retry_after(response.headers.get("Retry-After")),
                )
                if delay is None:
                    raise error_for_response(response)
            await (self._sleep or asyncio.sleep)(delay)
            attempt += 1


#: A resource operation: yields requests, receives their decoded answers,
#: returns its result.
Op = Generator[Request, Any, T]
#: One page of a listing: its items and the cursor of the next page (None at the end).
PageOp = Op[Tuple[List[T], Optional[str]]]


class SyncRunner:
    """Drives operations to completion with a :class:`SyncTransport`."""

    def __init__(self, transport: SyncTransport) -> None:
        self.transport = transport

    def run(self, op: Op[T]) -> T:
        """Send each request the operation yields; errors are thrown back into it."""
        try:
            request = next(op)
            while True:
                try:
                    answer = self.transport.send(request)
                except HallError as exc:
                    request = op.throw(exc)
                else:
                    request = op.send(answer)
        except StopIteration as done:
            return done.value

    def iterate(self, page: Callable[[Optional[str]], PageOp[T]]) -> Iterator[T]:
        """Every item of every page, fetching the next page only when needed."""
        cursor: Optional[str] = None
        while True:
            items, cursor = self.run(page(cursor))
            yield from items
            if not cursor:
                return


class AsyncRunner:
    """Drives operations to completion with an :class:`AsyncTransport`."""

    def __init__(self, transport: AsyncTransport) -> None:
        self.transport = transport

    async def run(self, op: Op[T]) -> T:
        """Send each request the operation yields; errors are thrown back into it."""
        try:
            request = next(op)
            while True:
                try:
                    answer = await self.transport.send(request)
                except HallError as exc:
                    request = op.throw(exc)
                else:
                    request = op.send(answer)
        except StopIteration as done:
            return done.value

    async def iterate(self, page: Callable[[Optional[str]], PageOp[T]]) -> AsyncIterator[T]:
        """Every item of every page, fetching the next page only when needed."""
        cursor: Optional[str] = None
        while True:
            items, cursor = await self.run(page(cursor))
            for item in items:
                yield item
            if not cursor:
                return
