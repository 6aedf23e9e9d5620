"""The exceptions of the Hall Registry client.

Every exception the client raises on purpose is a :class:`HallError`, so one
``except HallError`` covers the registry, the network and offline proof
checks alike. The subclasses follow the HTTP status the registry answered
with; each carries the registry's own ``error.code`` and ``error.message``
(the server's one error shape, ``{"error": {"code", "message"}}``) so a log
line says what the server said, not just a status number.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Tuple

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .models import Decision, SnapshotDifference

__all__ = [
    "HallError",
    "ConfigurationError",
    "AuthenticationError",
    "PermissionDenied",
    "NotFound",
    "InvalidRequest",
    "Conflict",
    "SnapshotsFailed",
    "RateLimited",
    "RegistryUnavailable",
    "DecisionDenied",
    "ProofError",
]


class HallError(Exception):
    """Base class of every error this package raises.

    ``code`` and ``message`` are the registry's ``error.code`` and
    ``error.message`` when the registry answered; ``status`` is the HTTP
    status (``None`` when no answer arrived, e.g. the registry is down).
    """

    def __init__(
        self,
        message: str,
        *,
        code: Optional[str] = None,
        status: Optional[int] = None,
    ) -> None:
        self.message = message
        self.code = code
        self.status = status
        super().__init__(self._render())

    def _render(self) -> str:
        parts = []
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(self.code)
        prefix = " ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class ConfigurationError(HallError, ValueError):
    """The client cannot be built as configured (e.g. no API key).

    Raised at construction, never at the first call, so a misconfigured
    service fails when it starts rather than on its first governed request.
    """


class AuthenticationError(HallError):
    """401: the API key or session token is missing, wrong, expired or revoked."""


class PermissionDenied(HallError, PermissionError):
    """403: the credential is valid but lacks the scope (or is not the operator).

    Also a :class:`PermissionError`, like a denied decision, so code written
    for the seed SDK's ``except PermissionError`` keeps catching it.
    """


class NotFound(HallError):
    """404: no such worker, decision, namespace, approval, report or route."""


class InvalidRequest(HallError, ValueError):
    """The registry refused the request as malformed or unacceptable.

    400 (bad field, bad query), 413 (body too large), 415 (not JSON), 422 and
    any other 4xx without a class of its own. ``code`` names the problem
    (``invalid_request``, ``invalid_query``, ``payload_too_large`` …) and
    ``message`` says which field.
    """


class Conflict(InvalidRequest):
    """409: the request contradicts the registry's state.

    E.g. the namespace is taken, the worker id exists, the report was already
    reviewed, or an ``Idempotency-Key`` was reused with a different body.
    A subclass of :class:`InvalidRequest` because, like it, repeating the same
    request will not help.
    """


class SnapshotsFailed(InvalidRequest):
    """422 ``snapshots_failed``: the tenant's stored golden snapshots fail on
    the rules sent, so no version was stored.

    ``differences`` lists each one (case, field, expected, actual). Fix the
    rules, update the snapshots, or send ``skip_snapshots=True``.
    """

    def __init__(
        self,
        message: str,
        *,
        code: Optional[str] = "snapshots_failed",
        status: Optional[int] = 422,
        differences: "Tuple[SnapshotDifference, ...]" = (),
    ) -> None:
        self.differences = differences
        super().__init__(message, code=code, status=status)


class RateLimited(HallError):
    """429: too many requests; ``retry_after`` is the server's wait in seconds.

    Raised only once the client's own retries (which honour ``Retry-After``)
    are spent, or when the server asks for a longer wait than the client is
    willing to sleep.
    """

    def __init__(
        self,
        message: str,
        *,
        code: Optional[str] = None,
        status: Optional[int] = 429,
        retry_after: Optional[float] = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, code=code, status=status)


class RegistryUnavailable(HallError):
    """The registry could not give an answer.

    It could not be reached (connection refused, DNS, timeout), the
    connection broke, or it answered 5xx — after the client's retries. Code
    that gates work on a decision must treat this as "not allowed" (fail
    closed); :meth:`hall_registry.Hall.governed` and the ASGI middleware do.
    """


class DecisionDenied(HallError, PermissionError):
    """A governed call was denied by the registry; the wrapped code did not run.

    ``decision`` is the full :class:`~hall_registry.models.Decision` (its
    ``deny_code``, ``deny_reason`` and ``proof``). A :class:`PermissionError`,
    as the seed SDK's decorator raised.
    """

    def __init__(self, message: str, *, decision: "Decision") -> None:
        self.decision = decision
        super().__init__(message, code=decision.deny_code)


class ProofError(HallError):
    """An offline proof check failed: a receipt is not what the registry signed.

    Raised by :mod:`hall_registry.verify` (and :attr:`Hall.audit`) with a
    message naming what failed and where: the receipt whose hash does not
    match its canonical content, whose Ed25519 signature does not verify,
    whose signing key id is unknown, or whose ``prev_receipt_hash`` does not
    link to the receipt before it. ``code`` is a short machine-readable name
    of the failure when the raiser gives one.
    """
