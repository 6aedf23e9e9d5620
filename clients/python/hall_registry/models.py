"""Typed results: what the registry answers, as frozen dataclasses.

Attribute names are the seed SDK's (``worker.id``, ``decision.denied``,
``decision.proof``, ``attest.artifact_hash`` …), which are also the JSON
field names of the registry's API, so the OpenAPI document describes these
classes too. Lists become tuples (the results are immutable); timestamps
become timezone-aware :class:`~datetime.datetime` objects. Every result keeps
the answer it was built from in ``raw`` (hidden from ``repr`` and equality)
for fields a newer registry adds before this client knows them.

No result's ``repr`` shows a secret: fields holding one are declared with
``repr=False`` (as are bulky ones, the receipt and the submitted record, to
keep a printed result readable).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Mapping, Optional, Tuple

__all__ = [
    "Worker",
    "Verification",
    "Attestation",
    "Decision",
    "DecisionPage",
    "NamespaceStatus",
    "Namespace",
    "NamespaceKey",
    "Approval",
    "BanEntry",
    "BanRecord",
    "BanHistory",
    "BanReport",
    "BanReportPage",
    "ConfirmedBan",
    "ReceiptKey",
    "Identity",
    "SessionToken",
    "RulesVersion",
    "RulesDocument",
    "RulesActivation",
    "SnapshotDifference",
    "RulesTestReport",
    "Webhook",
    "WebhookDelivery",
    "Policy",
    "parse_datetime",
]

_FRACTION = re.compile(r"\.(\d+)")


def parse_datetime(value: Optional[str]) -> Optional[datetime]:
    """An RFC 3339 timestamp as an aware datetime (``None`` stays ``None``).

    The registry writes nanoseconds and ``Z`` (Rust's chrono), which
    ``datetime.fromisoformat`` only accepts from Python 3.11 on; the fraction
    is cut to microseconds and ``Z`` spelt ``+00:00`` first.
    """
    if value is None:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    text = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def _required_datetime(value: str) -> datetime:
    moment = parse_datetime(value)
    assert moment is not None
    return moment


def _strings(value: Any) -> Tuple[str, ...]:
    return tuple(value or ())


def _raw() -> Any:
    return field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Worker:
    """A registered worker. ``id`` is the registry id (``wrk_…``), ``worker_id`` the WCP id."""

    id: str
    worker_id: str
    namespace: str
    name: str
    tenant_id: str
    status: str
    policy_tier: int
    capabilities: Tuple[str, ...]
    allowed_environments: Tuple[str, ...]
    required_controls: Tuple[str, ...]
    currently_implements: Tuple[str, ...]
    owner: str
    max_data_label: str
    visibility: str
    record: Mapping[str, Any] = field(repr=False)
    created_at: datetime
    updated_at: datetime
    artifact_hash: Optional[str] = None
    worker_species_id: Optional[str] = None
    risk_tier: Optional[str] = None
    blast_radius: Optional[Mapping[str, Any]] = None
    blast_score: Optional[int] = None
    privilege_envelope: Optional[Mapping[str, Any]] = None
    contact: Optional[str] = None
    revoked_at: Optional[datetime] = None
    raw: Mapping[str, Any] = _raw()

    @property
    def revoked(self) -> bool:
        return self.status == "revoked"

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "Worker":
        return cls(
            id=data["id"],
            worker_id=data["worker_id"],
            namespace=data["namespace"],
            name=data["name"],
            tenant_id=data["tenant_id"],
            status=data["status"],
            policy_tier=int(data["policy_tier"]),
            capabilities=_strings(data.get("capabilities")),
            allowed_environments=_strings(data.get("allowed_environments")),
            required_controls=_strings(data.get("required_controls")),
            currently_implements=_strings(data.get("currently_implements")),
            owner=data.get("owner", ""),
            max_data_label=data.get("max_data_label", ""),
            visibility=data.get("visibility", ""),
            record=data.get("record") or {},
            created_at=_required_datetime(data["created_at"]),
            updated_at=_required_datetime(data["updated_at"]),
            artifact_hash=data.get("artifact_hash"),
            worker_species_id=data.get("worker_species_id"),
            risk_tier=data.get("risk_tier"),
            blast_radius=data.get("blast_radius"),
            blast_score=data.get("blast_score"),
            privilege_envelope=data.get("privilege_envelope"),
            contact=data.get("contact"),
            revoked_at=parse_datetime(data.get("revoked_at")),
            raw=data,
        )


@dataclass(frozen=True)
class Verification:
    """The public verify answer (what the PyHall SDKs read): ``active``, ``revoked`` or ``banned``."""

    worker_id: str
    status: str
    banned: bool
    current_hash: Optional[str] = None
    attested_at: Optional[datetime] = None
    ban_reason: Optional[str] = None
    ai_generated: bool = False
    ai_service: Optional[str] = None
    ai_model: Optional[str] = None
    ai_session_fingerprint: Optional[str] = None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "Verification":
        return cls(
            worker_id=data["worker_id"],
            status=data["status"],
            banned=bool(data["banned"]),
            current_hash=data.get("current_hash"),
            attested_at=parse_datetime(data.get("attested_at")),
            ban_reason=data.get("ban_reason"),
            ai_generated=bool(data.get("ai_generated", False)),
            ai_service=data.get("ai_service"),
            ai_model=data.get("ai_model"),
            ai_session_fingerprint=data.get("ai_session_fingerprint"),
            raw=data,
        )


@dataclass(frozen=True)
class Attestation:
    """A worker's attestation.

    ``status`` is ``"attested"``, ``"pending"`` or ``"denied"`` — the seed's
    words — or ``"none"`` when no attestation was ever submitted for the
    worker (the registry's answer; this client passes it on rather than
    inventing one of the seed's three). ``artifact_hash`` is the attested
    package's SHA-256 (hex), ``attested_at`` when it was accepted (``None``
    unless attested), ``reason`` why it is pending, denied or none.

    From :meth:`Workers.attest` (the status) ``id`` and ``kind`` are
    ``None``; from :meth:`Workers.submit_attestation` and
    :meth:`Workers.attest_hash` (a submission) they name the submission.
    """

    worker_id: str
    status: str
    artifact_hash: Optional[str] = None
    attested_at: Optional[datetime] = None
    signed_by: Optional[str] = None
    reason: Optional[str] = None
    id: Optional[str] = None
    kind: Optional[str] = None
    created_at: Optional[datetime] = None
    label: Optional[str] = None
    ai_generated: bool = False
    ai_service: Optional[str] = None
    ai_model: Optional[str] = None
    raw: Mapping[str, Any] = _raw()

    @property
    def attested(self) -> bool:
        return self.status == "attested"

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "Attestation":
        # A submission names the hash `sha256`; the status view `artifact_hash`.
        return cls(
            worker_id=data["worker_id"],
            status=data["status"],
            artifact_hash=data.get("artifact_hash", data.get("sha256")),
            attested_at=parse_datetime(data.get("attested_at")),
            signed_by=data.get("signed_by"),
            reason=data.get("reason"),
            id=data.get("id"),
            kind=data.get("kind"),
            created_at=parse_datetime(data.get("created_at")),
            label=data.get("label"),
            ai_generated=bool(data.get("ai_generated", False)),
            ai_service=data.get("ai_service"),
            ai_model=data.get("ai_model"),
            raw=data,
        )


@dataclass(frozen=True)
class Decision:
    """One governance decision and its signed receipt.

    ``denied`` / ``allowed`` say whether the capability may run; a deny has a
    stable ``deny_code`` (``DENY_UNKNOWN_TENANT`` …) and a ``deny_reason``
    for people. ``proof`` is the receipt hash (64 hex), ``receipt`` the
    signed receipt itself, checkable offline with :meth:`Audit.verify`.

    When a human must approve (WCP §5.8) the decision is denied with
    ``supervisor_required`` and ``pending_approval_id``; once a human
    approves, repeat the call with ``approval_id=pending_approval_id``.
    """

    id: str
    decided_at: datetime
    worker_id: str
    capability_id: str
    env: str
    data_label: str
    tenant_id: str
    correlation_id: str
    denied: bool
    tier: int
    proof: str
    receipt: Mapping[str, Any] = field(repr=False)
    deny_code: Optional[str] = None
    deny_reason: Optional[str] = None
    supervisor_required: bool = False
    supervisor_level: Optional[str] = None
    pending_approval_id: Optional[str] = None
    approval_expires_at: Optional[datetime] = None
    escalation_context: Optional[Mapping[str, Any]] = None
    #: ``ALLOW``, ``DENY`` or ``REQUIRE_HUMAN`` (``None`` from a registry
    #: that does not send it).
    outcome: Optional[str] = None
    #: The deny reason, or a short sentence for an allow.
    reason: Optional[str] = None
    #: The SHA-256 of the worker's current attestation (``None`` when it has
    #: none, and in the decision log).
    artifact_hash: Optional[str] = None
    #: The worker's species (``wrk.…``), when known.
    selected_worker_species_id: Optional[str] = None
    raw: Mapping[str, Any] = _raw()

    @property
    def allowed(self) -> bool:
        return not self.denied

    @property
    def capability(self) -> str:
        """The capability decided on (the name ``decisions.make`` takes)."""
        return self.capability_id

    @property
    def acting_key_id(self) -> Optional[str]:
        """The id of the API key that asked for this decision, as its signed
        receipt records it (receipt format 2); ``None`` for receipts sealed
        before the registry recorded it (format 1)."""
        value = self.receipt.get("acting_key_id")
        return value if isinstance(value, str) else None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "Decision":
        return cls(
            id=data["id"],
            decided_at=_required_datetime(data["decided_at"]),
            worker_id=data["worker_id"],
            capability_id=data["capability_id"],
            env=data["env"],
            data_label=data["data_label"],
            tenant_id=data["tenant_id"],
            correlation_id=data["correlation_id"],
            denied=bool(data["denied"]),
            tier=int(data["tier"]),
            proof=data["proof"],
            receipt=data.get("receipt") or {},
            deny_code=data.get("deny_code"),
            deny_reason=data.get("deny_reason"),
            supervisor_required=bool(data.get("supervisor_required", False)),
            supervisor_level=data.get("supervisor_level"),
            pending_approval_id=data.get("pending_approval_id"),
            approval_expires_at=parse_datetime(data.get("approval_expires_at")),
            escalation_context=data.get("escalation_context"),
            outcome=data.get("outcome"),
            reason=data.get("reason"),
            artifact_hash=data.get("artifact_hash"),
            selected_worker_species_id=data.get("selected_worker_species_id"),
            raw=data,
        )


@dataclass(frozen=True)
class RouteDecision(Decision):
    """A routing decision (WCP §4.2): the tenant's rules chose the worker.

    Everything a :class:`Decision` has — ``denied``, ``outcome``,
    ``deny_code``, ``proof``, the signed ``receipt`` (format 3, with the
    route evidence), the approval fields — plus how it was routed:
    ``matched_rule_id`` (``"NO_MATCH"`` when no rule matched),
    ``selected_worker_species_id`` and ``selected_worker_id`` (``None`` when
    none was selected), ``rules_version``, the §6 ``blast_score``, the
    ``required_controls_effective``, each candidate with its skip reason,
    and the §5.4 ``telemetry_envelopes``.
    """

    timestamp: Optional[str] = None
    matched_rule_id: Optional[str] = None
    selected_worker_id: Optional[str] = None
    tenant_risk: Optional[str] = None
    qos_class: Optional[str] = None
    rules_version: Optional[str] = None
    dry_run: bool = False
    deny_reason_if_denied: Optional[Mapping[str, Any]] = None
    blast_score: Optional[int] = None
    blast_gate_passed: Optional[bool] = None
    privilege_envelope_ok: Optional[bool] = None
    required_controls_effective: Tuple[str, ...] = ()
    recommended_profiles_effective: Tuple[Any, ...] = ()
    escalation_effective: Optional[Mapping[str, Any]] = None
    candidate_workers_ranked: Tuple[Mapping[str, Any], ...] = field(default=(), repr=False)
    telemetry_envelopes: Tuple[Mapping[str, Any], ...] = field(default=(), repr=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "RouteDecision":
        base = Decision.from_api(data)
        return cls(
            **{f.name: getattr(base, f.name) for f in fields(Decision)},
            timestamp=data.get("timestamp"),
            matched_rule_id=data.get("matched_rule_id"),
            selected_worker_id=data.get("selected_worker_id"),
            tenant_risk=data.get("tenant_risk"),
            qos_class=data.get("qos_class"),
            rules_version=data.get("rules_version"),
            dry_run=bool(data.get("dry_run", False)),
            deny_reason_if_denied=data.get("deny_reason_if_denied"),
            blast_score=data.get("blast_score"),
            blast_gate_passed=data.get("blast_gate_passed"),
            privilege_envelope_ok=data.get("privilege_envelope_ok"),
            required_controls_effective=tuple(data.get("required_controls_effective") or ()),
            recommended_profiles_effective=tuple(data.get("recommended_profiles_effective") or ()),
            escalation_effective=data.get("escalation_effective"),
            candidate_workers_ranked=tuple(data.get("candidate_workers_ranked") or ()),
            telemetry_envelopes=tuple(data.get("telemetry_envelopes") or ()),
        )


@dataclass(frozen=True)
class DecisionPage:
    """One page of the decision log, newest first.

    Pass ``next_cursor`` as ``cursor`` to the same query for the next page
    (``None`` on the last page), or use :meth:`Decisions.iter` to walk them all.
    """

    decisions: Tuple[Decision, ...]
    next_cursor: Optional[str] = None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.decisions)

    def __len__(self) -> int:
        return len(self.decisions)


@dataclass(frozen=True)
class NamespaceStatus:
    """A namespace check: ``available``, ``yours``, ``taken``, ``reserved``, ``pending`` or ``invalid``."""

    namespace: str
    status: str
    reason: Optional[str] = None
    raw: Mapping[str, Any] = _raw()

    @property
    def available(self) -> bool:
        return self.status == "available"

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "NamespaceStatus":
        return cls(namespace=data["namespace"], status=data["status"], reason=data.get("reason"), raw=data)


@dataclass(frozen=True)
class Namespace:
    """A namespace held by a tenant: ``claimed``, ``pending`` (awaits the operator) or ``reserved``."""

    namespace: str
    status: str
    created_at: datetime
    updated_at: datetime
    tenant_id: Optional[str] = None
    reason: Optional[str] = None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "Namespace":
        return cls(
            namespace=data["namespace"],
            status=data["status"],
            created_at=_required_datetime(data["created_at"]),
            updated_at=_required_datetime(data["updated_at"]),
            tenant_id=data.get("tenant_id"),
            reason=data.get("reason"),
            raw=data,
        )


@dataclass(frozen=True)
class NamespaceKey:
    """An Ed25519 signing key of a namespace (``kid`` is ``nsk_`` + 16 hex; ``public_key`` base64)."""

    kid: str
    namespace: str
    public_key: str
    label: str
    created_at: datetime
    revoked_at: Optional[datetime] = None
    raw: Mapping[str, Any] = _raw()

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "NamespaceKey":
        return cls(
            kid=data["kid"],
            namespace=data["namespace"],
            public_key=data["public_key"],
            label=data["label"],
            created_at=_required_datetime(data["created_at"]),
            revoked_at=parse_datetime(data.get("revoked_at")),
            raw=data,
        )


@dataclass(frozen=True)
class NamespaceChange:
    """The operator's release or transfer of a namespace, as recorded (``forced``:
    the active workers and keys under it were revoked first)."""

    id: int
    namespace: str
    action: str
    forced: bool
    actor_tenant: str
    actor_key_id: str
    revoked_workers: int
    revoked_keys: int
    created_at: datetime
    from_tenant: Optional[str] = None
    to_tenant: Optional[str] = None
    reason: Optional[str] = None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "NamespaceChange":
        return cls(
            id=data["id"],
            namespace=data["namespace"],
            action=data["action"],
            forced=data["forced"],
            actor_tenant=data["actor_tenant"],
            actor_key_id=data["actor_key_id"],
            revoked_workers=data["revoked_workers"],
            revoked_keys=data["revoked_keys"],
            created_at=_required_datetime(data["created_at"]),
            from_tenant=data.get("from_tenant"),
            to_tenant=data.get("to_tenant"),
            reason=data.get("reason"),
            raw=data,
        )


@dataclass(frozen=True)
class Approval:
    """A human approval (WCP §5.8): ``pending``, ``approved``, ``denied`` or ``expired``."""

    id: str
    tenant_id: str
    status: str
    supervisor_level: str
    worker_id: str
    capability_id: str
    env: str
    data_label: str
    reason: str
    escalation_context: Mapping[str, Any]
    decision_id: str
    correlation_id: str
    created_at: datetime
    expires_at: datetime
    resolution_note: Optional[str] = None
    resolved_at: Optional[datetime] = None
    resolved_by: Optional[str] = None
    used_at: Optional[datetime] = None
    used_by_decision: Optional[str] = None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "Approval":
        return cls(
            id=data["id"],
            tenant_id=data["tenant_id"],
            status=data["status"],
            supervisor_level=data["supervisor_level"],
            worker_id=data["worker_id"],
            capability_id=data["capability_id"],
            env=data["env"],
            data_label=data["data_label"],
            reason=data["reason"],
            escalation_context=data.get("escalation_context") or {},
            decision_id=data["decision_id"],
            correlation_id=data["correlation_id"],
            created_at=_required_datetime(data["created_at"]),
            expires_at=_required_datetime(data["expires_at"]),
            resolution_note=data.get("resolution_note"),
            resolved_at=parse_datetime(data.get("resolved_at")),
            resolved_by=data.get("resolved_by"),
            used_at=parse_datetime(data.get("used_at")),
            used_by_decision=data.get("used_by_decision"),
            raw=data,
        )


@dataclass(frozen=True)
class BanEntry:
    """A confirmed, live ban as the PyHall clients read it (``source``: ``community`` or ``operator``)."""

    sha256: str
    reason: str
    reported_at: datetime
    source: str
    review_status: str
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "BanEntry":
        return cls(
            sha256=data["sha256"],
            reason=data["reason"],
            reported_at=_required_datetime(data["reported_at"]),
            source=data["source"],
            review_status=data["review_status"],
            raw=data,
        )


@dataclass(frozen=True)
class BanRecord:
    """One ban of a hash in its history, live (``lifted_at`` is ``None``) or lifted."""

    sha256: str
    reason: str
    source: str
    reported_at: datetime
    confirmed_at: datetime
    report_id: Optional[str] = None
    lifted_at: Optional[datetime] = None
    lift_reason: Optional[str] = None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "BanRecord":
        return cls(
            sha256=data["sha256"],
            reason=data["reason"],
            source=data["source"],
            reported_at=_required_datetime(data["reported_at"]),
            confirmed_at=_required_datetime(data["confirmed_at"]),
            report_id=data.get("report_id"),
            lifted_at=parse_datetime(data.get("lifted_at")),
            lift_reason=data.get("lift_reason"),
            raw=data,
        )


@dataclass(frozen=True)
class BanHistory:
    """A hash's ban status: ``banned`` (a ban is live now) and every ban it ever had."""

    sha256: str
    banned: bool
    history: Tuple[BanRecord, ...]
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "BanHistory":
        return cls(
            sha256=data["sha256"],
            banned=bool(data["banned"]),
            history=tuple(BanRecord.from_api(r) for r in data.get("history") or ()),
            raw=data,
        )


@dataclass(frozen=True)
class BanReport:
    """A report of a hash: ``pending`` until the operator confirms or rejects it."""

    id: str
    sha256: str
    reason: str
    source: str
    status: str
    created_at: datetime
    evidence_url: Optional[str] = None
    reporter_tenant: Optional[str] = None
    review_note: Optional[str] = None
    reviewed_at: Optional[datetime] = None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "BanReport":
        return cls(
            id=data["id"],
            sha256=data["sha256"],
            reason=data["reason"],
            source=data["source"],
            status=data["status"],
            created_at=_required_datetime(data["created_at"]),
            evidence_url=data.get("evidence_url"),
            reporter_tenant=data.get("reporter_tenant"),
            review_note=data.get("review_note"),
            reviewed_at=parse_datetime(data.get("reviewed_at")),
            raw=data,
        )


@dataclass(frozen=True)
class BanReportPage:
    """One page of ban reports, oldest first.

    Pass ``next_cursor`` as ``cursor`` to the same query for the next page
    (``None`` on the last page), or use :meth:`BanList.iter_reports` to walk
    them all.
    """

    reports: Tuple[BanReport, ...]
    next_cursor: Optional[str] = None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.reports)

    def __len__(self) -> int:
        return len(self.reports)


@dataclass(frozen=True)
class ConfirmedBan:
    """A confirmed report and the ban it created."""

    report: BanReport
    ban: BanEntry

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "ConfirmedBan":
        return cls(report=BanReport.from_api(data["report"]), ban=BanEntry.from_api(data["ban"]))


@dataclass(frozen=True)
class ReceiptKey:
    """A public key the registry signs receipts with (``active``) or once did (``retired``)."""

    kid: str
    public_key: str
    algorithm: str
    status: str
    created_at: datetime
    retired_at: Optional[datetime] = None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "ReceiptKey":
        return cls(
            kid=data["kid"],
            public_key=data["public_key"],
            algorithm=data["algorithm"],
            status=data["status"],
            created_at=_required_datetime(data["created_at"]),
            retired_at=parse_datetime(data.get("retired_at")),
            raw=data,
        )


@dataclass(frozen=True)
class Identity:
    """Who the client's credential belongs to (``credential``: ``api_key`` or ``session``)."""

    tenant_id: str
    key_id: str
    key_name: str
    scopes: Tuple[str, ...]
    operator: bool
    credential: str
    expires_at: Optional[datetime] = None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "Identity":
        return cls(
            tenant_id=data["tenant_id"],
            key_id=data["key_id"],
            key_name=data["key_name"],
            scopes=_strings(data.get("scopes")),
            operator=bool(data["operator"]),
            credential=data["credential"],
            expires_at=parse_datetime(data.get("expires_at")),
            raw=data,
        )


@dataclass(frozen=True)
class SessionToken:
    """A short-lived session token (a secret: never shown by ``repr``).

    Send it as ``Authorization: Bearer <token>``, e.g. as the local Hall
    server's ``HALL_SESSION_TOKEN``.
    """

    token: str = field(repr=False)
    token_type: str
    expires_at: datetime
    tenant_id: str
    scopes: Tuple[str, ...]

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "SessionToken":
        return cls(
            token=data["token"],
            token_type=data["token_type"],
            expires_at=_required_datetime(data["expires_at"]),
            tenant_id=data["tenant_id"],
            scopes=_strings(data.get("scopes")),
        )


@dataclass(frozen=True)
class RulesVersion:
    """One stored version of the tenant's routing rules (``active``: the one in force)."""

    version: int
    sha256: str
    rule_count: int
    created_at: datetime
    created_by: str
    comment: Optional[str] = None
    active: bool = False
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "RulesVersion":
        return cls(
            version=int(data["version"]),
            sha256=data["sha256"],
            rule_count=int(data["rule_count"]),
            created_at=_required_datetime(data["created_at"]),
            created_by=data["created_by"],
            comment=data.get("comment"),
            active=bool(data["active"]),
            raw=data,
        )


@dataclass(frozen=True)
class RulesDocument:
    """A rules document with its version: the one in force (``rules.get()``,
    with ``activated_at``) or a stored one (``rules.version(n)``)."""

    version: int
    sha256: str
    rules: Mapping[str, Any] = field(repr=False)
    activated_at: Optional[datetime] = None
    active: bool = True
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "RulesDocument":
        return cls(
            version=int(data["version"]),
            sha256=data["sha256"],
            rules=data["rules"],
            activated_at=parse_datetime(data.get("activated_at")),
            active=bool(data.get("active", True)),
            raw=data,
        )


@dataclass(frozen=True)
class RulesActivation:
    """The version now in force; ``changed`` is False when it already was."""

    version: int
    changed: bool

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "RulesActivation":
        return cls(version=int(data["version"]), changed=bool(data["changed"]))


@dataclass(frozen=True)
class SnapshotDifference:
    """What a snapshot case expected of the rules and what they gave
    (``None`` for ``matched_rule_id``: no rule matches, denied)."""

    case: str
    field: str
    expected: Any
    actual: Any

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "SnapshotDifference":
        return cls(
            case=data["case"],
            field=data["field"],
            expected=data.get("expected"),
            actual=data.get("actual"),
        )


@dataclass(frozen=True)
class RulesTestReport:
    """A snapshot run: ``passed`` when no case differs."""

    passed: bool
    cases: int
    differences: Tuple[SnapshotDifference, ...]

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "RulesTestReport":
        return cls(
            passed=bool(data["passed"]),
            cases=int(data["cases"]),
            differences=tuple(SnapshotDifference.from_api(d) for d in data.get("differences") or ()),
        )


@dataclass(frozen=True)
class Webhook:
    """A webhook endpoint (``whep_…``). ``secret`` is set only on the answer
    that creates it or rotates its secret, the one time it is shown, and
    never shown by ``repr``: give it to the receiver's Standard Webhooks
    library (``standardwebhooks.Webhook(secret)``)."""

    id: str
    url: str
    event_types: Tuple[str, ...]
    enabled: bool
    created_at: datetime
    updated_at: datetime
    description: Optional[str] = None
    disabled_reason: Optional[str] = None
    failing_since: Optional[datetime] = None
    previous_secret_expires_at: Optional[datetime] = None
    secret: Optional[str] = field(default=None, repr=False)
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "Webhook":
        return cls(
            id=data["id"],
            url=data["url"],
            event_types=_strings(data.get("event_types")),
            enabled=bool(data["enabled"]),
            created_at=_required_datetime(data["created_at"]),
            updated_at=_required_datetime(data["updated_at"]),
            description=data.get("description"),
            disabled_reason=data.get("disabled_reason"),
            failing_since=parse_datetime(data.get("failing_since")),
            previous_secret_expires_at=parse_datetime(data.get("previous_secret_expires_at")),
            secret=data.get("secret"),
            raw={k: v for k, v in data.items() if k != "secret"},
        )


@dataclass(frozen=True)
class WebhookDelivery:
    """One delivery of an event to an endpoint (``whdl_…``) and its last
    attempt. ``event_id`` is the ``webhook-id`` header of every attempt;
    ``state`` is ``pending``, ``delivered`` or ``failed``."""

    id: str
    event_id: str
    event_type: str
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: Optional[datetime] = None
    last_attempt_at: Optional[datetime] = None
    status_code: Optional[int] = None
    latency_ms: Optional[int] = None
    error: Optional[str] = None
    response_prefix: Optional[str] = field(default=None, repr=False)
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "WebhookDelivery":
        return cls(
            id=data["id"],
            event_id=data["event_id"],
            event_type=data["event_type"],
            state=data["state"],
            attempts=int(data["attempts"]),
            created_at=_required_datetime(data["created_at"]),
            next_attempt_at=parse_datetime(data.get("next_attempt_at")),
            last_attempt_at=parse_datetime(data.get("last_attempt_at")),
            status_code=data.get("status_code"),
            latency_ms=data.get("latency_ms"),
            error=data.get("error"),
            response_prefix=data.get("response_prefix"),
            raw=data,
        )


@dataclass(frozen=True)
class Policy:
    """Your tenant's policy (``GET``/``PUT /api/v1/policy``): ``attestation``
    and ``decisions`` as the registry shows them (docs/decisions.md), with
    the approval TTL at hand. ``approval_ttl_seconds`` is how long your
    approvals wait for a human, and stay usable once approved (60 to 604800,
    default 3600)."""

    attestation: Mapping[str, Any]
    decisions: Mapping[str, Any]
    approval_ttl_seconds: int
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "Policy":
        decisions = dict(data.get("decisions") or {})
        return cls(
            attestation=dict(data.get("attestation") or {}),
            decisions=decisions,
            approval_ttl_seconds=int(decisions.get("approval_ttl_seconds", 3600)),
            raw=data,
        )
