"""The registry's endpoints, grouped as the seed SDK groups them.

Each method is written once, as a generator of requests (see
:mod:`hall_registry._ops`): on :class:`~hall_registry.Hall` it returns its
result, on :class:`~hall_registry.AsyncHall` an awaitable of it. Listings
that span pages return an iterator (``for``) or an async iterator
(``async for``) that fetches the next page only when it is reached.
"""

from __future__ import annotations

import base64
import os
import uuid
from datetime import datetime
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import quote

from ._config import ClientConfig
from ._http import Op, PageOp, Request, Retry
from ._ops import Resource, RunnerT, operation, paginated
from .errors import InvalidRequest, ProofError
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
    Policy,
    ReceiptKey,
    RulesActivation,
    RulesDocument,
    RulesTestReport,
    RouteDecision,
    RulesVersion,
    SessionToken,
    Verification,
    Webhook,
    WebhookDelivery,
    Worker,
)

__all__ = [
    "Workers",
    "Decisions",
    "Namespaces",
    "NamespaceKeys",
    "Approvals",
    "BanList",
    "Audit",
    "Auth",
    "Rules",
    "RoutingSnapshots",
    "Webhooks",
    "TenantPolicy",
]

#: The header ``decisions.make`` sends so a retried request is decided once.
IDEMPOTENCY_HEADER = "Idempotency-Key"


def _segment(value: str) -> str:
    """One path segment: ids such as ``x.acme.worker`` pass, ``/`` and ``?`` cannot escape."""
    if not value:
        raise InvalidRequest("an id in the request path is empty", code="invalid_path")
    return quote(value, safe="")


def _get(path: str, params: Optional[Mapping[str, Any]] = None) -> Request:
    return Request("GET", path, params=params, retry=Retry.SAFE)


def _write(method: str, path: str, body: Any = None, **kwargs: Any) -> Request:
    """A request that changes something: sent once unless it certainly never arrived."""
    return Request(method, path, json=body, retry=Retry.UNSAFE, **kwargs)


def _note(note: Optional[str]) -> Optional[Dict[str, str]]:
    return {"note": note} if note is not None else None


class Workers(Resource[RunnerT]):
    """Workers: register, read, list, change, revoke, and their attestations."""

    @operation
    def register(
        self,
        name: Optional[str] = None,
        namespace: Optional[str] = None,
        capabilities: Optional[Sequence[str]] = None,
        policy_tier: Optional[int] = None,
        **record_fields: Any,
    ) -> Op[Worker]:
        """Register a worker and return it (``worker.id`` is its ``wrk_…`` id).

        The seed's form is ``name`` + ``namespace`` (default
        ``PYHALL_NAMESPACE``); an unclaimed ``x.*`` namespace is claimed for
        your tenant. A full WCP registry record works too: pass
        ``worker_id="org.acme.summarizer"`` and its other fields
        (``allowed_environments``, ``max_data_label``, ``required_controls``,
        ``blast_radius``, ``visibility`` …) as keywords; they are kept in the
        record. Needs the ``workers:write`` scope.
        """
        body: Dict[str, Any] = dict(record_fields)
        if namespace is None and "worker_id" not in record_fields:
            namespace = self._config.namespace
        for key, value in (
            ("name", name),
            ("namespace", namespace),
            ("policy_tier", policy_tier),
        ):
            if value is not None:
                body[key] = value
        if capabilities is not None:
            body["capabilities"] = list(capabilities)
        data = yield _write("POST", "/api/v1/workers", body)
        return Worker.from_api(data)

    @operation
    def get(self, worker_id: str) -> Op[Worker]:
        """One of your workers, by ``wrk_…`` id or WCP worker id."""
        data = yield _get(f"/api/v1/workers/{_segment(worker_id)}")
        return Worker.from_api(data)

    @paginated
    def list(
        self,
        *,
        namespace: Optional[str] = None,
        capability: Optional[str] = None,
        status: Optional[str] = None,
        visibility: Optional[str] = None,
        page_size: Optional[int] = None,
    ) -> Callable[[Optional[str]], PageOp[Worker]]:
        """Every worker of your tenant in registration order, across all pages.

        Filters: ``namespace``, ``capability`` (declared by the worker),
        ``status`` (``active``/``revoked``), ``visibility``
        (``public``/``private``). ``page_size`` (1–200) is how many are
        fetched per request, not a limit on the total.
        """
        params = {
            "namespace": namespace,
            "capability": capability,
            "status": status,
            "visibility": visibility,
            "limit": page_size,
        }

        def page(cursor: Optional[str]) -> PageOp[Worker]:
            data = yield _get("/api/v1/workers", {**params, "cursor": cursor})
            return [Worker.from_api(w) for w in data["workers"]], data.get("next_cursor")

        return page

    @operation
    def update(self, worker_id: str, **fields: Any) -> Op[Worker]:
        """Replace fields of an active worker's record (identity fields cannot change)."""
        data = yield _write("PATCH", f"/api/v1/workers/{_segment(worker_id)}", fields)
        return Worker.from_api(data)

    @operation
    def revoke(self, worker_id: str) -> Op[Worker]:
        """Revoke a worker; it is kept with status ``revoked`` and every later decision denies."""
        data = yield _write("POST", f"/api/v1/workers/{_segment(worker_id)}/revoke")
        return Worker.from_api(data)

    @operation
    def verify(self, worker_id: str) -> Op[Verification]:
        """The public verify answer the PyHall SDKs read (status, ban, current hash)."""
        data = yield _get(f"/api/v1/verify/{_segment(worker_id)}")
        return Verification.from_api(data)

    @operation
    def attest(self, worker_id: str) -> Op[Attestation]:
        """The worker's attestation status, judged against today's ban list and keys.

        ``status`` is ``"attested"``, ``"pending"`` or ``"denied"``, or
        ``"none"`` for a worker that never had an attestation submitted.
        """
        data = yield _get(f"/api/v1/workers/{_segment(worker_id)}/attestation")
        return Attestation.from_api(data)

    @operation
    def attest_hash(
        self,
        worker_id: str,
        sha256: str,
        *,
        label: Optional[str] = None,
        ai_generated: bool = False,
        ai_service: Optional[str] = None,
        ai_model: Optional[str] = None,
        ai_session_id: Optional[str] = None,
    ) -> Op[Attestation]:
        """Submit an unsigned package-hash attestation (the PyHall SDKs' ``PUT …/attest``).

        Whether it is attested or left pending depends on the tenant's
        attestation policy; a signed card (:meth:`submit_attestation`) is the
        stronger form.
        """
        body = {
            "sha256": sha256,
            "ai_generated": ai_generated,
            "label": label,
            "ai_service": ai_service,
            "ai_model": ai_model,
            "ai_session_id": ai_session_id,
        }
        data = yield _write(
            "PUT",
            f"/api/v1/workers/{_segment(worker_id)}/attest",
            {k: v for k, v in body.items() if v is not None},
        )
        return Attestation.from_api(data)

    @operation
    def submit_attestation(
        self,
        worker_id: str,
        package_dir: str,
        key_file: str,
        expires_in_days: Optional[int] = None,
    ) -> Op[Attestation]:
        """Hash a package, sign a capability card for it and submit it, as ``hallctl attest`` does.

        ``key_file`` holds the namespace's Ed25519 private key (the 32-byte
        seed as base64 or hex, as ``hallctl keygen`` writes it); its public
        half must be registered on the worker's namespace
        (:meth:`NamespaceKeys.add`). The card lists the worker's current
        capabilities and species, so the registry can match it to the worker.
        Needs the ``verify`` extra (``cryptography``).
        """
        # Imported here so the rest of the client works without the extra.
        from . import card as cards
        from . import package as packages

        worker = yield _get(f"/api/v1/workers/{_segment(worker_id)}")
        sha256 = packages.package_hash(package_dir)
        _, kid = cards.public_key_and_kid(key_file)
        card = cards.build_card(worker, sha256, kid, expires_in_days=expires_in_days)
        signature = cards.sign_card(card, key_file)
        data = yield _write(
            "POST",
            f"/api/v1/workers/{_segment(worker_id)}/attestations",
            {"card": card, "signature": signature},
        )
        return Attestation.from_api(data)


class Decisions(Resource[RunnerT]):
    """Governance decisions: make one, read one, query the log."""

    @operation
    def make(
        self,
        worker_id: str,
        capability: str,
        env: Optional[str] = None,
        *,
        data_label: str,
        tenant_id: Optional[str] = None,
        correlation_id: Optional[str] = None,
        request_hash: Optional[str] = None,
        dry_run: bool = False,
        approval_id: Optional[str] = None,
        idempotency_key: Optional[str] = None,
    ) -> Op[Decision]:
        """Decide whether ``worker_id`` may run ``capability`` now; check ``.denied``.

        A deny is a normal result (``decision.denied``, ``deny_code``,
        ``deny_reason``), not an exception: exceptions mean the registry gave
        no decision. ``env`` defaults to ``PYHALL_ENV`` (else ``"dev"``),
        ``tenant_id`` to your key's tenant. ``data_label`` is required — the
        label decides clearance, so the client does not guess it.

        The request carries an ``Idempotency-Key`` (a fresh UUID unless you
        pass ``idempotency_key``) and is retried with the same key when the
        connection breaks or the registry is briefly unavailable: the
        registry answers a repeat with the original decision, so a retry
        never writes a second receipt. Reusing a key with a different request
        raises :class:`~hall_registry.errors.Conflict`.
        """
        body: Dict[str, Any] = {
            "worker_id": worker_id,
            "capability": capability,
            "env": env or self._config.env,
            "data_label": data_label,
            "dry_run": dry_run,
        }
        for key, value in (
            ("tenant_id", tenant_id),
            ("correlation_id", correlation_id),
            ("request_hash", request_hash),
            ("approval_id", approval_id),
        ):
            if value is not None:
                body[key] = value
        data = yield Request(
            "POST",
            "/api/v1/decisions",
            json=body,
            headers={IDEMPOTENCY_HEADER: idempotency_key or str(uuid.uuid4())},
            retry=Retry.IDEMPOTENT,
        )
        return Decision.from_api(data)

    @operation
    def get(self, decision_id: str) -> Op[Decision]:
        """One of your tenant's decisions by id (its receipt id)."""
        data = yield _get(f"/api/v1/decisions/{_segment(decision_id)}")
        return Decision.from_api(data)

    @staticmethod
    def _filters(
        worker_id: Optional[str],
        capability_id: Optional[str],
        denied: Optional[bool],
        since: Union[datetime, str, None],
        until: Union[datetime, str, None],
        limit: Optional[int],
    ) -> Dict[str, Any]:
        return {
            "worker_id": worker_id,
            "capability_id": capability_id,
            "denied": denied,
            "since": since,
            "until": until,
            "limit": limit,
        }

    @operation
    def query(
        self,
        worker_id: Optional[str] = None,
        capability_id: Optional[str] = None,
        denied: Optional[bool] = None,
        since: Union[datetime, str, None] = None,
        until: Union[datetime, str, None] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> Op[DecisionPage]:
        """One page of your tenant's decisions, newest first.

        ``since`` is inclusive, ``until`` exclusive (datetimes, or RFC 3339
        strings; naive datetimes are UTC). ``limit`` is the page size (1–500,
        default 50). Continue with ``cursor=page.next_cursor``, or use
        :meth:`iter` to walk every page.
        """
        params = self._filters(worker_id, capability_id, denied, since, until, limit)
        data = yield _get("/api/v1/decisions", {**params, "cursor": cursor})
        return DecisionPage(
            decisions=tuple(Decision.from_api(d) for d in data["decisions"]),
            next_cursor=data.get("next_cursor"),
        )

    @paginated
    def iter(
        self,
        worker_id: Optional[str] = None,
        capability_id: Optional[str] = None,
        denied: Optional[bool] = None,
        since: Union[datetime, str, None] = None,
        until: Union[datetime, str, None] = None,
        page_size: Optional[int] = None,
    ) -> Callable[[Optional[str]], PageOp[Decision]]:
        """Every decision matching the filters, newest first, across all pages."""
        params = self._filters(worker_id, capability_id, denied, since, until, page_size)

        def page(cursor: Optional[str]) -> PageOp[Decision]:
            data = yield _get("/api/v1/decisions", {**params, "cursor": cursor})
            return [Decision.from_api(d) for d in data["decisions"]], data.get("next_cursor")

        return page


def _public_key_text(public_key: Union[str, bytes]) -> str:
    """A public key as the registry takes it: raw 32 bytes become base64, text passes as is."""
    if isinstance(public_key, (bytes, bytearray)):
        if len(public_key) != 32:
            raise InvalidRequest(
                f"an Ed25519 public key is 32 bytes, not {len(public_key)}", code="invalid_key"
            )
        return base64.b64encode(bytes(public_key)).decode("ascii")
    return public_key


class NamespaceKeys(Resource[RunnerT]):
    """The Ed25519 signing keys of your namespaces (they sign capability cards)."""

    @operation
    def add(
        self,
        namespace: str,
        key: Any,
        label: str,
        *,
        proof: Optional[str] = None,
    ) -> Op[NamespaceKey]:
        """Register a signing key on one of your namespaces, with the proof of
        possession the registry requires.

        ``key`` is the private key — a ``hallctl keygen`` key file path, the
        32-byte seed or an ``Ed25519PrivateKey`` (needs the ``verify`` extra) —
        from which the public key and the proof (:func:`hall_registry.card.key_proof`,
        over your tenant, asked of the registry, the namespace and the kid) are
        made; only those are sent. With ``proof=`` (made elsewhere, e.g. by an
        HSM), ``key`` is the public key instead: 32 raw bytes, base64 or 64 hex.
        """
        if proof is None:
            from . import card as cards

            if isinstance(key, str) and not os.path.exists(key):
                raise InvalidRequest(
                    "registering a key needs a proof of possession: pass the private key "
                    "(a key file path, the 32-byte seed or an Ed25519PrivateKey), or the "
                    "public key with proof=",
                    code="invalid_proof",
                )
            public_key, _ = cards.public_key_and_kid(key)
            me = yield _get("/api/v1/auth/whoami")
            proof = cards.key_proof(key, me["tenant_id"], namespace)
        else:
            public_key = _public_key_text(key)
        data = yield _write(
            "POST",
            f"/api/v1/namespaces/{_segment(namespace)}/keys",
            {"public_key": public_key, "label": label, "proof": proof},
        )
        return NamespaceKey.from_api(data)

    @operation
    def list(self, namespace: str) -> Op[List[NamespaceKey]]:
        """A namespace's keys, revoked ones included (with ``revoked_at``)."""
        data = yield _get(f"/api/v1/namespaces/{_segment(namespace)}/keys")
        return [NamespaceKey.from_api(k) for k in data["keys"]]

    @operation
    def revoke(self, namespace: str, kid: str) -> Op[NamespaceKey]:
        """Revoke a key: cards it signs from now on are denied; earlier ones stay attested."""
        data = yield _write(
            "POST", f"/api/v1/namespaces/{_segment(namespace)}/keys/{_segment(kid)}/revoke"
        )
        return NamespaceKey.from_api(data)


class Namespaces(Resource[RunnerT]):
    """Authority namespaces (``x.<name>``, ``org.<name>``) and, under ``.keys``, their signing keys."""

    def __init__(self, runner: RunnerT, config: ClientConfig) -> None:
        super().__init__(runner, config)
        self.keys: NamespaceKeys[RunnerT] = NamespaceKeys(runner, config)

    @operation
    def check(self, namespace: str) -> Op[NamespaceStatus]:
        """Is it ``available``, ``yours``, ``taken``, ``reserved``, ``pending`` or ``invalid``?"""
        data = yield _get(f"/api/v1/namespaces/{_segment(namespace)}")
        return NamespaceStatus.from_api(data)

    @operation
    def claim(self, namespace: str) -> Op[Namespace]:
        """Claim a namespace for your tenant (``admin``); ``org.*`` claims may stay ``pending``."""
        data = yield _write("POST", "/api/v1/namespaces", {"namespace": namespace})
        return Namespace.from_api(data)

    @operation
    def list(self) -> Op[List[Namespace]]:
        """Your tenant's namespaces, claimed and pending."""
        data = yield _get("/api/v1/namespaces")
        return [Namespace.from_api(n) for n in data["namespaces"]]

    @operation
    def release(self, namespace: str) -> Op[NamespaceStatus]:
        """Release a claim (operator only); refused while active workers or keys
        live under it (revoked ones never block)."""
        data = yield _write("DELETE", f"/api/v1/namespaces/{_segment(namespace)}")
        return NamespaceStatus.from_api(data)

    @operation
    def transfer(self, namespace: str, tenant_id: str) -> Op[Namespace]:
        """Move a claim to another tenant (operator only); refused while active
        workers or keys live under it (revoked ones never block)."""
        data = yield _write(
            "POST", f"/api/v1/namespaces/{_segment(namespace)}/transfer", {"tenant_id": tenant_id}
        )
        return Namespace.from_api(data)

    @operation
    def force_release(self, namespace: str, reason: str) -> Op[NamespaceChange]:
        """Revoke the active workers and keys under a namespace, then release it
        (operator only): how a squatted namespace is reclaimed. Recorded with
        ``reason``."""
        data = yield _write(
            "POST", f"/api/v1/namespaces/{_segment(namespace)}/force-release", {"reason": reason}
        )
        return NamespaceChange.from_api(data)

    @operation
    def force_transfer(self, namespace: str, tenant_id: str, reason: str) -> Op[NamespaceChange]:
        """Revoke the active workers and keys under a namespace (its holder's),
        then move it to ``tenant_id`` (operator only). Recorded with ``reason``."""
        data = yield _write(
            "POST",
            f"/api/v1/namespaces/{_segment(namespace)}/force-transfer",
            {"tenant_id": tenant_id, "reason": reason},
        )
        return NamespaceChange.from_api(data)

    @operation
    def history(self, namespace: str) -> Op[List[NamespaceChange]]:
        """Every release and transfer of a namespace, oldest first (operator only)."""
        data = yield _get(f"/api/v1/namespaces/{_segment(namespace)}/history")
        return [NamespaceChange.from_api(c) for c in data["changes"]]


class Approvals(Resource[RunnerT]):
    """Human approvals (WCP §5.8) for decisions that need a person's yes."""

    @operation
    def pending(self) -> Op[List[Approval]]:
        """Your tenant's approvals waiting for a human, oldest first."""
        data = yield _get("/wcp/approvals/pending")
        return [Approval.from_api(a) for a in data["pending"]]

    @operation
    def get(self, approval_id: str) -> Op[Approval]:
        """One approval (poll it while a human decides)."""
        data = yield _get(f"/wcp/approvals/{_segment(approval_id)}")
        return Approval.from_api(data)

    def _resolve(self, approval_id: str, resolution: str, note: Optional[str]) -> Op[Approval]:
        body = {"approval_id": approval_id, "resolution": resolution}
        if note is not None:
            body["note"] = note
        data = yield _write("POST", "/wcp/approvals/resolve", body)
        return Approval.from_api(data)

    @operation
    def approve(self, approval_id: str, note: Optional[str] = None) -> Op[Approval]:
        """Approve (``admin``): exactly one matching decision with ``approval_id`` may pass, within the hour."""
        return (yield from self._resolve(approval_id, "approve", note))

    @operation
    def deny(self, approval_id: str, note: Optional[str] = None) -> Op[Approval]:
        """Deny (``admin``): the approval is closed."""
        return (yield from self._resolve(approval_id, "deny", note))

    @operation
    def escalate(self, approval_id: str, note: Optional[str] = None) -> Op[Approval]:
        """Raise a pending approval from ``gatekeeper`` to ``incident_commander`` (``admin``)."""
        body = {"approval_id": approval_id}
        if note is not None:
            body["note"] = note
        data = yield _write("POST", "/wcp/approvals/escalate", body)
        return Approval.from_api(data)


class BanList(Resource[RunnerT]):
    """The reviewed ban list of package hashes: check, report, and the operator's review."""

    @operation
    def check(self, sha256: str) -> Op[BanHistory]:
        """Whether a hash is banned now (``.banned``) and its bans, live and lifted."""
        data = yield _get(f"/api/v1/ban-list/{_segment(sha256)}")
        return BanHistory.from_api(data)

    @operation
    def list(self, limit: Optional[int] = None) -> Op[List[BanEntry]]:
        """The confirmed, live bans, newest first (default 500, at most 5000)."""
        data = yield _get("/api/v1/ban-list", {"limit": limit})
        return [BanEntry.from_api(b) for b in data]

    @operation
    def report(
        self, sha256: str, reason: str, evidence_url: Optional[str] = None
    ) -> Op[BanReport]:
        """Report a hash; it is banned only once the operator confirms the report."""
        body = {"sha256": sha256, "reason": reason}
        if evidence_url is not None:
            body["evidence_url"] = evidence_url
        data = yield _write("POST", "/api/v1/ban-list/report", body)
        return BanReport.from_api(data)

    @staticmethod
    def _report_filters(
        status: Optional[str],
        sha256: Optional[str],
        reporter_tenant: Optional[str],
        limit: Optional[int],
    ) -> Dict[str, Any]:
        return {
            "status": status,
            "sha256": sha256,
            "reporter_tenant": reporter_tenant,
            "limit": limit,
        }

    @operation
    def reports(
        self,
        status: Optional[str] = None,
        limit: Optional[int] = None,
        *,
        sha256: Optional[str] = None,
        reporter_tenant: Optional[str] = None,
        cursor: Optional[str] = None,
    ) -> Op[BanReportPage]:
        """One page of reports to review (operator only), oldest first.

        Filters: ``status`` (``pending``/``confirmed``/``rejected``),
        ``sha256`` (the reported hash), ``reporter_tenant`` (who filed it).
        ``limit`` is the page size (default 500, at most 5000). Continue with
        ``cursor=page.next_cursor``, or use :meth:`iter_reports` to walk every
        page.
        """
        params = self._report_filters(status, sha256, reporter_tenant, limit)
        data = yield _get("/api/v1/ban-list/reports", {**params, "cursor": cursor})
        return BanReportPage(
            reports=tuple(BanReport.from_api(r) for r in data["reports"]),
            next_cursor=data.get("next_cursor"),
        )

    @paginated
    def iter_reports(
        self,
        status: Optional[str] = None,
        *,
        sha256: Optional[str] = None,
        reporter_tenant: Optional[str] = None,
        page_size: Optional[int] = None,
    ) -> Callable[[Optional[str]], PageOp[BanReport]]:
        """Every report matching the filters (operator only), oldest first, across all pages."""
        params = self._report_filters(status, sha256, reporter_tenant, page_size)

        def page(cursor: Optional[str]) -> PageOp[BanReport]:
            data = yield _get("/api/v1/ban-list/reports", {**params, "cursor": cursor})
            return [BanReport.from_api(r) for r in data["reports"]], data.get("next_cursor")

        return page

    @operation
    def confirm(self, report_id: str, note: Optional[str] = None) -> Op[ConfirmedBan]:
        """Confirm a report (operator only): the hash is banned at once, everywhere."""
        data = yield _write(
            "POST", f"/api/v1/ban-list/reports/{_segment(report_id)}/confirm", _note(note)
        )
        return ConfirmedBan.from_api(data)

    @operation
    def reject(self, report_id: str, note: Optional[str] = None) -> Op[BanReport]:
        """Reject a report (operator only)."""
        data = yield _write(
            "POST", f"/api/v1/ban-list/reports/{_segment(report_id)}/reject", _note(note)
        )
        return BanReport.from_api(data)

    @operation
    def lift(self, sha256: str, note: Optional[str] = None) -> Op[BanRecord]:
        """Lift the live ban on a hash (operator only); it stays in the history."""
        data = yield _write("DELETE", f"/api/v1/ban-list/{_segment(sha256)}", _note(note))
        return BanRecord.from_api(data)


ReceiptLike = Union[Decision, Mapping[str, Any]]


def _receipt_of(decision_or_receipt: ReceiptLike) -> Tuple[Mapping[str, Any], Optional[str]]:
    """The receipt to check, and the proof the decision claimed for it (if any)."""
    if isinstance(decision_or_receipt, Decision):
        return decision_or_receipt.receipt, decision_or_receipt.proof
    if "receipt" in decision_or_receipt and isinstance(decision_or_receipt["receipt"], Mapping):
        # A decision as JSON (e.g. read from a log).
        return decision_or_receipt["receipt"], decision_or_receipt.get("proof")
    return decision_or_receipt, None


class Audit(Resource[RunnerT]):
    """Offline proof checks of receipts against the registry's published keys.

    The keys (``GET /api/v1/keys``) are fetched once and cached on this
    client; a receipt signed with a key the cache does not know (the
    registry rotated since) makes the client fetch them once more before
    judging. The checks themselves are :mod:`hall_registry.verify`'s: the
    receipt hash is recomputed from the canonical JSON and the Ed25519
    signature checked. Needs the ``verify`` extra (``cryptography``).
    """

    def __init__(self, runner: RunnerT, config: ClientConfig) -> None:
        super().__init__(runner, config)
        self._key_cache: Optional[Dict[str, bytes]] = None

    def _signing_keys(self, needed: Sequence[str]) -> Op[Dict[str, bytes]]:
        """The published keys, fetched when the cache lacks one of ``needed``."""
        from . import verify as proofs

        cache = self._key_cache
        if cache is None or any(kid not in cache for kid in needed):
            cache = proofs.published_keys((yield _get("/api/v1/keys")))
            self._key_cache = cache
        return cache

    @operation
    def keys(self) -> Op[List[ReceiptKey]]:
        """Every key the registry ever signed receipts with (active and retired)."""
        data = yield _get("/api/v1/keys")
        return [ReceiptKey.from_api(k) for k in data["keys"]]

    @operation
    def verify(self, decision_or_receipt: ReceiptLike) -> Op[bool]:
        """Check one receipt offline; ``True``, or :class:`ProofError` naming what failed.

        Takes a :class:`Decision`, a decision as JSON, or a bare receipt. For a
        decision, its ``proof`` must also be its receipt's ``receipt_hash``.
        """
        from . import verify as proofs

        receipt, proof = _receipt_of(decision_or_receipt)
        if proof is not None and proof != receipt.get("receipt_hash"):
            raise ProofError(
                f"the decision's proof {proof} is not its receipt's receipt_hash "
                f"{receipt.get('receipt_hash')}",
                code="proof_mismatch",
            )
        kid = receipt.get("signing_key_id")
        keys = yield from self._signing_keys([kid] if isinstance(kid, str) else [])
        return proofs.verify_receipt(dict(receipt), keys)

    @operation
    def verify_chain(self, receipts: Optional[Sequence[ReceiptLike]] = None) -> Op[int]:
        """Check receipts and their links (``prev_receipt_hash``) in chain order.

        Returns how many receipts verified, or raises :class:`ProofError`
        naming the first broken one (by index and ``receipt_id``) and why.
        Without ``receipts``, checks your tenant's whole chain as the registry
        exports it (``GET /api/v1/audit/receipts``). Given receipts must start
        at the chain's first receipt: one taken from the middle has no
        predecessor to link to.
        """
        from . import verify as proofs

        if receipts is None:
            chain: List[Mapping[str, Any]] = []
            after: Optional[int] = 0
            while after is not None:
                data = yield _get("/api/v1/audit/receipts", {"after": after, "limit": 5000})
                chain.extend(data["receipts"])
                after = data.get("next_after")
        else:
            chain = [_receipt_of(r)[0] for r in receipts]
        kids = sorted({r["signing_key_id"] for r in chain if isinstance(r.get("signing_key_id"), str)})
        keys = yield from self._signing_keys(kids)
        return proofs.verify_chain([dict(r) for r in chain], keys)

    @operation
    def inclusion(self, decision_or_receipt: ReceiptLike) -> Op[Dict[str, Any]]:
        """Check that a receipt is in your verifiable log (docs/audit.md).

        Fetches the latest signed checkpoint of your log, opens it with the
        registry's published keys (a C2SP signed note under the log's name),
        fetches the receipt's inclusion proof against that checkpoint's tree
        and checks it here (RFC 9162), with :mod:`hall_registry.tlog` — an
        implementation written from the public texts. Returns
        ``{"leaf_index", "tree_size", "origin"}``, or raises
        :class:`ProofError` naming what failed. A receipt newer than the
        latest checkpoint (issued about every second) is not in it yet.
        """
        from . import tlog

        receipt, _ = _receipt_of(decision_or_receipt)
        receipt_hash = receipt.get("receipt_hash")
        tenant = receipt.get("tenant_id")
        if not isinstance(receipt_hash, str) or not isinstance(tenant, str):
            raise ProofError("not a receipt: no receipt_hash and tenant_id", code="malformed_receipt")
        checkpoint = yield _get("/api/v1/audit/checkpoint")
        origin = checkpoint["origin"]
        log, _, of = origin.rpartition("/")
        if of != tenant:
            raise ProofError(f"the checkpoint is of {origin!r}, not of {tenant}'s log", code="wrong_origin")
        published = yield _get("/api/v1/keys")
        verifiers = [tlog.verifier(log, base64.b64decode(k["public_key"])) for k in published["keys"]]
        head = tlog.open_checkpoint(checkpoint["checkpoint"], origin, verifiers)
        proof = yield _get(
            "/api/v1/audit/proof/inclusion",
            {"receipt_id": receipt["receipt_id"], "tree_size": head.size},
        )
        try:
            hashes = [bytes.fromhex(h) for h in proof["hashes"]]
            leaf = tlog.leaf_hash(bytes.fromhex(receipt_hash))
        except ValueError:
            raise ProofError("a hash is not hex", code="malformed_proof") from None
        tlog.verify_inclusion(leaf, proof["leaf_index"], head.size, hashes, head.root)
        return {"leaf_index": proof["leaf_index"], "tree_size": head.size, "origin": origin}

    @paginated
    def receipts(self, after: int = 0, page_size: Optional[int] = None) -> Callable[[Optional[str]], PageOp[Dict[str, Any]]]:
        """Your tenant's receipts in chain order, from chain position ``after`` (0: the start)."""

        def page(cursor: Optional[str]) -> PageOp[Dict[str, Any]]:
            position = int(cursor) if cursor is not None else after
            data = yield _get("/api/v1/audit/receipts", {"after": position, "limit": page_size})
            next_after = data.get("next_after")
            return list(data["receipts"]), (str(next_after) if next_after is not None else None)

        return page


class Auth(Resource[RunnerT]):
    """The client's credential: who it is, and session tokens made from it."""

    @operation
    def whoami(self) -> Op[Identity]:
        """The tenant, key and scopes of the client's credential."""
        data = yield _get("/api/v1/auth/whoami")
        return Identity.from_api(data)

    @operation
    def token(
        self, scopes: Optional[Sequence[str]] = None, ttl_seconds: Optional[int] = None
    ) -> Op[SessionToken]:
        """A short-lived session token (never more scopes than the key's)."""
        body: Dict[str, Any] = {}
        if scopes is not None:
            body["scopes"] = list(scopes)
        if ttl_seconds is not None:
            body["ttl_seconds"] = ttl_seconds
        data = yield _write("POST", "/api/v1/auth/token", body or None)
        return SessionToken.from_api(data)


class Router(Resource[RunnerT]):
    """The WCP router (``POST /api/v1/route``): the tenant's routing rules
    choose the worker for a capability request."""

    @operation
    def route(
        self,
        capability_id: str,
        env: Optional[str] = None,
        *,
        data_label: Optional[str] = None,
        tenant_risk: str = "low",
        qos_class: str = "P2",
        correlation_id: Optional[str] = None,
        request: Optional[Mapping[str, Any]] = None,
        blast_score: Optional[int] = None,
        blast_radius: Optional[Mapping[str, Any]] = None,
        dry_run: bool = False,
        approval_id: Optional[str] = None,
        tenant_id: Optional[str] = None,
    ) -> Op[RouteDecision]:
        """Route ``capability_id``: which worker may serve it, here, now? Check ``.denied``.

        A deny is a normal result (``deny_code``, ``deny_reason_if_denied``),
        with its receipt. ``env`` defaults to ``PYHALL_ENV`` (else ``"dev"``);
        an omitted ``data_label`` is your tenant's default label
        (``RESTRICTED`` unless your policy sets another: an omitted label
        never widens access). ``correlation_id`` defaults to a fresh UUID and
        is propagated into the telemetry. ``blast_score`` is the score the
        chain's earlier steps carry (WCP §6, additive). After a human
        approves a ``REQUIRE_HUMAN`` outcome, route again with
        ``approval_id=decision.pending_approval_id``.

        Not retried once it may have reached the registry: a route has no
        idempotency key, and a repeat would be a second receipted decision.
        """
        body: Dict[str, Any] = {
            "capability_id": capability_id,
            "env": env or self._config.env,
            "tenant_risk": tenant_risk,
            "qos_class": qos_class,
            "correlation_id": correlation_id or str(uuid.uuid4()),
            "dry_run": dry_run,
        }
        for key, value in (
            ("data_label", data_label),
            ("request", request),
            ("blast_score", blast_score),
            ("blast_radius", blast_radius),
            ("approval_id", approval_id),
            ("tenant_id", tenant_id),
        ):
            if value is not None:
                body[key] = value
        data = yield Request("POST", "/api/v1/route", json=body, retry=Retry.UNSAFE)
        return RouteDecision.from_api(data)


def _cases(cases: Sequence[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
    if isinstance(cases, (str, bytes)) or isinstance(cases, Mapping):
        raise InvalidRequest("cases must be a list of cases ({name, input, expect})", code="invalid_snapshots")
    return list(cases)


class RoutingSnapshots(Resource[RunnerT]):
    """The tenant's golden snapshot cases (``admin``): route inputs with the
    rule they must meet, run before a new rules version goes into force."""

    @operation
    def get(self) -> Op[List[Dict[str, Any]]]:
        """The stored cases (an empty list when none)."""
        data = yield _get("/api/v1/routing/snapshots")
        return list(data.get("cases") or [])

    @operation
    def put(self, cases: Sequence[Mapping[str, Any]]) -> Op[List[Dict[str, Any]]]:
        """Replace the stored cases; each is checked (422 ``invalid_snapshots`` names the bad one)."""
        data = yield Request(
            "PUT", "/api/v1/routing/snapshots", json={"cases": _cases(cases)}, retry=Retry.SAFE
        )
        return list(data.get("cases") or [])


class Rules(Resource[RunnerT]):
    """The tenant's routing rules in the PyHall rules JSON format (``admin``):
    immutable versions, the one in force, roll-back, snapshot runs."""

    def __init__(self, runner: RunnerT, config: ClientConfig) -> None:
        super().__init__(runner, config)
        self.snapshots: RoutingSnapshots[RunnerT] = RoutingSnapshots(runner, config)

    @operation
    def get(self) -> Op[RulesDocument]:
        """The rules in force, with their version (``NotFound`` ``no_rules`` when none)."""
        data = yield _get("/api/v1/routing/rules")
        return RulesDocument.from_api(data)

    @operation
    def put(
        self,
        document: Mapping[str, Any],
        activate: bool = True,
        skip_snapshots: bool = False,
        comment: Optional[str] = None,
    ) -> Op[RulesVersion]:
        """Store ``document`` (``{"rules": [...]}``) as the next version; in force unless ``activate=False``.

        Raises :class:`~hall_registry.InvalidRequest` (``invalid_rules``,
        the message naming the place) or
        :class:`~hall_registry.SnapshotsFailed` (with ``differences``); then
        nothing is stored.
        """
        params = {"activate": activate, "skip_snapshots": skip_snapshots, "comment": comment}
        data = yield _write("PUT", "/api/v1/routing/rules", document, params=params)
        return RulesVersion.from_api(data)

    @operation
    def versions(self) -> Op[List[RulesVersion]]:
        """Every stored version, newest first."""
        data = yield _get("/api/v1/routing/rules/versions")
        return [RulesVersion.from_api(v) for v in data.get("versions") or []]

    @operation
    def version(self, n: int) -> Op[RulesDocument]:
        """One stored version with its document."""
        data = yield _get(f"/api/v1/routing/rules/versions/{int(n)}")
        return RulesDocument.from_api(data)

    @operation
    def activate(self, n: int) -> Op[RulesActivation]:
        """Put a stored version into force (roll back or forward); ``changed`` is False when it already was."""
        data = yield Request(
            "POST", f"/api/v1/routing/rules/versions/{int(n)}/activate", retry=Retry.SAFE
        )
        return RulesActivation.from_api(data)

    @operation
    def test(
        self,
        rules: Optional[Mapping[str, Any]] = None,
        cases: Optional[Sequence[Mapping[str, Any]]] = None,
    ) -> Op[RulesTestReport]:
        """Run snapshot cases against ``rules`` (default: the rules in force);
        ``cases`` default to the stored snapshots. Nothing is stored."""
        body: Dict[str, Any] = {}
        if rules is not None:
            body["rules"] = rules
        if cases is not None:
            body["cases"] = _cases(cases)
        data = yield Request("POST", "/api/v1/routing/rules/test", json=body, retry=Retry.SAFE)
        return RulesTestReport.from_api(data)


#: Leave a field of ``webhooks.update`` as it is.
_UNCHANGED: Any = object()


class Webhooks(Resource[RunnerT]):
    """Your tenant's signed webhook endpoints (``admin``): events such as
    ``approval.pending`` POSTed to your URL, signed per Standard Webhooks,
    retried for a day and logged (docs/events.md lists the events)."""

    @operation
    def create(
        self,
        url: str,
        event_types: Sequence[str],
        description: Optional[str] = None,
        enabled: bool = True,
    ) -> Op[Webhook]:
        """Register an endpoint; the answer's ``secret`` is shown this once.

        ``event_types``: names such as ``approval.pending``, or ``"*"`` for
        every event but the opt-in ``decision.denied``. A URL that is not
        https on a public host is refused (``InvalidRequest`` ``invalid_url``)
        unless the operator allows private ones.
        """
        body: Dict[str, Any] = {"url": url, "event_types": list(event_types), "enabled": enabled}
        if description is not None:
            body["description"] = description
        data = yield _write("POST", "/api/v1/webhooks", body)
        return Webhook.from_api(data)

    @operation
    def list(self) -> Op[List[Webhook]]:
        """Every endpoint of your tenant, oldest first."""
        data = yield _get("/api/v1/webhooks")
        return [Webhook.from_api(w) for w in data["webhooks"]]

    @operation
    def get(self, webhook_id: str) -> Op[Webhook]:
        data = yield _get(f"/api/v1/webhooks/{_segment(webhook_id)}")
        return Webhook.from_api(data)

    @operation
    def update(
        self,
        webhook_id: str,
        *,
        url: Optional[str] = None,
        event_types: Optional[Sequence[str]] = None,
        description: Any = _UNCHANGED,
        enabled: Optional[bool] = None,
    ) -> Op[Webhook]:
        """Change an endpoint; arguments not given stay as they are
        (``description=None`` removes it; ``enabled=True`` enables a disabled one again)."""
        body: Dict[str, Any] = {}
        if url is not None:
            body["url"] = url
        if event_types is not None:
            body["event_types"] = list(event_types)
        if description is not _UNCHANGED:
            body["description"] = description
        if enabled is not None:
            body["enabled"] = enabled
        data = yield _write("PATCH", f"/api/v1/webhooks/{_segment(webhook_id)}", body)
        return Webhook.from_api(data)

    @operation
    def delete(self, webhook_id: str) -> Op[None]:
        """Remove an endpoint and its delivery log."""
        yield _write("DELETE", f"/api/v1/webhooks/{_segment(webhook_id)}")
        return None

    @operation
    def rotate_secret(self, webhook_id: str) -> Op[Webhook]:
        """A new signing secret (``secret``, shown this once); the old one keeps
        signing beside it until ``previous_secret_expires_at``."""
        data = yield _write("POST", f"/api/v1/webhooks/{_segment(webhook_id)}/secret/rotate")
        return Webhook.from_api(data)

    @paginated
    def deliveries(
        self, webhook_id: str, page_size: Optional[int] = None
    ) -> Callable[[Optional[str]], PageOp[WebhookDelivery]]:
        """The endpoint's delivery log, newest first, across all pages."""
        path = f"/api/v1/webhooks/{_segment(webhook_id)}/deliveries"

        def page(cursor: Optional[str]) -> PageOp[WebhookDelivery]:
            data = yield _get(path, {"limit": page_size, "cursor": cursor})
            return [WebhookDelivery.from_api(d) for d in data["deliveries"]], data.get("next_cursor")

        return page

    @operation
    def redeliver(self, webhook_id: str, delivery_id: str) -> Op[WebhookDelivery]:
        """Send a delivery again at once, with the same ``webhook-id``."""
        data = yield _write(
            "POST",
            f"/api/v1/webhooks/{_segment(webhook_id)}/deliveries/{_segment(delivery_id)}/redeliver",
        )
        return WebhookDelivery.from_api(data)


class TenantPolicy(Resource[RunnerT]):
    """Your tenant's policy (``GET`` and ``PUT /api/v1/policy``): what it asks
    of attestations and of decisions, the approval TTL among them
    (docs/decisions.md)."""

    @operation
    def get(self) -> Op[Policy]:
        """The policy as stored (``read``)."""
        data = yield _get("/api/v1/policy")
        return Policy.from_api(data)

    @operation
    def set(
        self,
        decisions: Optional[Mapping[str, Any]] = None,
        attestation: Optional[Mapping[str, Any]] = None,
    ) -> Op[Policy]:
        """Replace the parts given (``admin``); a part not given stays as it
        is, a field left out of a part given takes its default. Both parts
        are checked before either is written."""
        body: Dict[str, Any] = {}
        if decisions is not None:
            body["decisions"] = dict(decisions)
        if attestation is not None:
            body["attestation"] = dict(attestation)
        data = yield Request("PUT", "/api/v1/policy", json=body, retry=Retry.SAFE)
        return Policy.from_api(data)

    @operation
    def set_approval_ttl(self, seconds: int) -> Op[Policy]:
        """Set how long new approvals wait for a human (60 to 604800
        seconds), keeping the rest of the decision policy: the policy is read
        and written back with the TTL changed (a change someone else makes in
        between is overwritten). Out of range: ``InvalidRequest``
        (``invalid_field``). Open approvals keep their deadline."""
        current = yield _get("/api/v1/policy")
        decisions = dict(current.get("decisions") or {})
        decisions["approval_ttl_seconds"] = int(seconds)
        data = yield Request(
            "PUT", "/api/v1/policy", json={"decisions": decisions}, retry=Retry.SAFE
        )
        return Policy.from_api(data)
