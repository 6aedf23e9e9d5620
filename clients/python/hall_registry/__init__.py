"""Hall Registry's Python client: the seed PyHall SDK's ``Hall`` API, for a self-hosted registry.

The seed's code runs with one changed line::

    from hall_registry import Hall   # instead of: from pyhall import Hall

(``pyhall`` is the module of the ``pyhall-wcp`` distribution, which this
package must not shadow.)
"""

from ._http import RetryPolicy
from ._version import __version__
from .client import DEFAULT_TIMEOUT, AsyncHall, Hall
from .errors import (
    AuthenticationError,
    ConfigurationError,
    Conflict,
    DecisionDenied,
    HallError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    ProofError,
    RateLimited,
    RegistryUnavailable,
    SnapshotsFailed,
)
from .models import (
    Approval,
    Attestation,
    BanEntry,
    BanHistory,
    BanRecord,
    BanReport,
    BanReportPage,
    ConfirmedBan,
    Decision,
    DecisionPage,
    Identity,
    Namespace,
    NamespaceChange,
    NamespaceKey,
    NamespaceStatus,
    ReceiptKey,
    RouteDecision,
    RulesActivation,
    RulesDocument,
    RulesTestReport,
    RulesVersion,
    SessionToken,
    SnapshotDifference,
    Verification,
    Webhook,
    WebhookDelivery,
    Worker,
)

__all__ = [
    "__version__",
    "Hall",
    "AsyncHall",
    "RetryPolicy",
    "DEFAULT_TIMEOUT",
    "HallError",
    "ConfigurationError",
    "AuthenticationError",
    "PermissionDenied",
    "NotFound",
    "InvalidRequest",
    "Conflict",
    "RateLimited",
    "RegistryUnavailable",
    "SnapshotsFailed",
    "DecisionDenied",
    "ProofError",
    "Approval",
    "Attestation",
    "BanEntry",
    "BanHistory",
    "BanRecord",
    "BanReport",
    "BanReportPage",
    "ConfirmedBan",
    "Decision",
    "DecisionPage",
    "Identity",
    "Namespace",
    "NamespaceChange",
    "NamespaceKey",
    "NamespaceStatus",
    "ReceiptKey",
    "RouteDecision",
    "RulesActivation",
    "RulesDocument",
    "RulesTestReport",
    "RulesVersion",
    "SessionToken",
    "SnapshotDifference",
    "Verification",
    "Webhook",
    "WebhookDelivery",
    "Worker",
]
