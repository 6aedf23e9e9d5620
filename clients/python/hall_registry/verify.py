"""Offline verification of decision receipts (WCP §5.7).

Every decision the registry makes, ALLOW or DENY, is sealed into a receipt in
the requesting tenant's hash chain.  These functions check receipts with
nothing but the registry's published public keys (``GET /api/v1/keys``), so a
tenant need not trust the registry's word, or its database, for its history.
They do what ``audit::verify_chain`` (``crates/audit/src/lib.rs``) and
``hallctl audit verify`` do:

- ``receipt_hash`` is the SHA-256 (hex) of the canonical JSON of the receipt's
  content: exactly the receipt fields the registry defines, without
  ``receipt_hash`` and ``signature``.  ``approval_id`` is part of it only when
  it is set, so receipts from before approvals existed hash as they did.
  Unknown extra fields are not covered (the registry ignores them too).
- ``receipt_version`` is the receipt format.  Version 1 receipts (everything
  sealed before the acting key was recorded) have no such field; version 2
  receipts say ``"receipt_version": 2`` and carry ``acting_key_id``, the id of
  the API key that asked for the decision, signed with the rest.  Both
  verify; a version this client does not know is refused by name
  (``unsupported_version``) rather than failing its hash.  Version 3 receipts
  are the router's (``POST /api/v1/route``): they add the route evidence
  ``matched_rule_id``, ``rules_version``, ``rules_sha256`` and
  ``selected_worker_species_id``, each hashed only when set.
- ``signature`` is Ed25519 over the 32 raw bytes of that hash (not its hex),
  standard base64, by the key named ``signing_key_id``.
- ``prev_receipt_hash`` is the previous receipt's hash in the tenant's chain,
  ``null`` for the first, so a changed, removed or reordered receipt breaks
  the chain at a place :func:`verify_chain` names.

A decision answer (``POST /api/v1/decisions``) carries its receipt under
``"receipt"`` and the receipt hash as ``"proof"``; pass ``decision["receipt"]``
to :func:`verify_receipt` (and compare ``decision["proof"]`` with its
``receipt_hash``).  A single receipt cannot show its place in the chain; for
that verify the export (``GET /api/v1/audit/receipts``) with
:func:`verify_chain`.

Needs the ``cryptography`` package (``pip install 'hall-registry[verify]'``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any, Union

from ._canonical import canonical_json
from .card import _ed25519
from .errors import ProofError

__all__ = ["PublicKey", "published_keys", "receipt_hash", "verify_chain", "verify_receipt"]

#: A receipt public key: the 32 raw bytes, or their base64 (as
#: ``GET /api/v1/keys`` lists it) or 64-hex spelling.
PublicKey = Union[bytes, bytearray, memoryview, str]

# The receipt content as the registry's `UnsignedReceipt` defines it; a value of
# another JSON type makes the registry refuse the whole export.
_STR = "string"
_OPT_STR = "string or null"
_VERSION = "receipt version (1, 2 or 3)"
#: The receipt formats this verifier reads (``receipt_version``; absent = 1).
RECEIPT_VERSIONS = (1, 2, 3)
_CONTENT_FIELDS: dict[str, str] = {
    "receipt_id": _STR,
    "spec_version": _STR,
    "tenant_id": _STR,
    "correlation_id": _STR,
    "decided_at": _STR,
    "worker_id": _STR,
    "capability_id": _STR,
    "env": _STR,
    "data_label": _STR,
    "outcome": _STR,
    "deny_code": _OPT_STR,
    "tier": "integer 0-255",
    "policy_version": _STR,
    "controls_verified": "array of strings",
    "request_hash": _OPT_STR,
    "dry_run": "boolean",
    "prev_receipt_hash": _OPT_STR,
    "signing_key_id": _STR,
    "approval_id": _OPT_STR,
    "acting_key_id": _OPT_STR,
    "matched_rule_id": _OPT_STR,
    "rules_version": _OPT_STR,
    "rules_sha256": _OPT_STR,
    "selected_worker_species_id": _OPT_STR,
    "receipt_version": _VERSION,
}
# Optional fields may be missing (they are then null); approval_id and
# acting_key_id are left out of the hashed content when null, and
# receipt_version when missing or 1 (version 1 receipts have no such field).
_OPTIONAL = frozenset(k for k, t in _CONTENT_FIELDS.items() if t in (_OPT_STR, _VERSION))
_OMITTED_WHEN_NULL = frozenset({
    "approval_id", "acting_key_id", "matched_rule_id", "rules_version", "rules_sha256",
    "selected_worker_species_id",
})

_HEX64 = re.compile(r"[0-9A-Fa-f]{64}")


def _type_ok(kind: str, value: Any) -> bool:
    if kind == _STR:
        return isinstance(value, str)
    if kind == _OPT_STR:
        return value is None or isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == _VERSION:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if kind == "integer 0-255":
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 255
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _fail(code: str, message: str, index: int | None = None, receipt_id: str | None = None) -> ProofError:
    """A ProofError saying what failed, for callers that want more than the
    message: ``code`` (``malformed``, ``unsupported_version``, ``hash_mismatch``, ``broken_link``,
    ``wrong_tenant``, ``unknown_key``, ``bad_key``, ``bad_signature``), and the
    attributes ``index`` (position in the chain, or None) and ``receipt_id``."""
    where = ""
    if index is not None:
        where = f"receipt {index} ({receipt_id}): "
    elif receipt_id is not None:
        where = f"receipt {receipt_id}: "
    err = ProofError(where + message, code=code)
    err.index = index  # type: ignore[attr-defined]
    err.receipt_id = receipt_id  # type: ignore[attr-defined]
    return err


def _content(receipt: Any, index: int | None) -> dict[str, Any]:
    """The hashed content of ``receipt``, or ProofError(kind="malformed")."""
    if not isinstance(receipt, Mapping):
        raise _fail("malformed", f"malformed receipt: expected a JSON object, got {type(receipt).__name__}", index)
    rid = receipt.get("receipt_id")
    rid = rid if isinstance(rid, str) else None
    content: dict[str, Any] = {}
    for field, kind in _CONTENT_FIELDS.items():
        if field not in receipt:
            if field in _OPTIONAL:
                value = None
            else:
                raise _fail("malformed", f"malformed receipt: {field} is missing", index, rid)
        else:
            value = receipt[field]
            if not _type_ok(kind, value):
                raise _fail("malformed", f"malformed receipt: {field} must be a {kind}, got {value!r}", index, rid)
        if field in _OMITTED_WHEN_NULL and value is None:
            continue
        if field == "receipt_version":
            if value is not None and value not in RECEIPT_VERSIONS:
                raise _fail("unsupported_version",
                            f"receipt_version {value} is not one this verifier knows "
                            f"({' or '.join(map(str, RECEIPT_VERSIONS))}); a newer hall-registry client reads it",
                            index, rid)
            if value is None or value == 1:
                continue
        content[field] = value
    for field in ("receipt_hash", "signature"):
        if not isinstance(receipt.get(field), str):
            raise _fail("malformed", f"malformed receipt: {field} must be a string", index, rid)
    return content


def receipt_hash(receipt: Mapping[str, Any]) -> str:
    """The hash ``receipt`` should state: SHA-256 (hex) of the canonical JSON
    of its content.  Raises ProofError when the receipt is malformed."""
    return hashlib.sha256(canonical_json(_content(receipt, None))).hexdigest()


def _public_key(kid: str, key: PublicKey) -> Any:
    if isinstance(key, str):
        text = key.strip()
        if _HEX64.fullmatch(text):
            raw = bytes.fromhex(text)
        else:
            try:
                raw = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raw = b""
    else:
        raw = bytes(key)
    if len(raw) != 32:
        raise _fail("bad_key", f"published key {kid} is not a 32-byte Ed25519 public key")
    return _ed25519().Ed25519PublicKey.from_public_bytes(raw)


def published_keys(listing: Mapping[str, Any]) -> dict[str, bytes]:
    """``{kid: raw public key}`` from the ``GET /api/v1/keys`` answer
    (``{"keys": [{"kid", "public_key" (base64), "status", …}]}``); retired
    keys included, since the receipts they signed still verify."""
    keys: dict[str, bytes] = {}
    for entry in listing.get("keys") or []:
        kid, public = entry.get("kid"), entry.get("public_key")
        if not isinstance(kid, str) or not isinstance(public, str):
            raise _fail("bad_key", f"key listing entry {entry!r} has no kid and public_key")
        try:
            raw = base64.b64decode(public, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise _fail("bad_key", f"published key {kid} is not 32 bytes of base64")
        keys[kid] = raw
    return keys


def _check(receipt: Mapping[str, Any], content: dict[str, Any], keys: Mapping[str, PublicKey],
           loaded: dict[str, Any], index: int | None, prev: tuple[str | None] | None) -> str:
    """Hash, optionally link, key and signature, in the registry's order.
    ``loaded`` caches parsed public keys by kid across a chain."""
    rid: str = content["receipt_id"]
    stated: str = receipt["receipt_hash"]
    computed = hashlib.sha256(canonical_json(content)).hexdigest()
    if computed != stated:
        raise _fail("hash_mismatch",
                    f"receipt_hash does not match its content (recomputed {computed}, stated {stated})",
                    index, rid)
    if prev is not None and content["prev_receipt_hash"] != prev[0]:
        raise _fail("broken_link",
                    f"prev_receipt_hash {content['prev_receipt_hash']!r} does not link to the "
                    f"previous receipt ({prev[0]!r})", index, rid)
    kid: str = content["signing_key_id"]
    if kid not in keys:
        raise _fail("unknown_key", f"signed with unknown key {kid}", index, rid)
    public = loaded.get(kid)
    if public is None:
        public = loaded[kid] = _public_key(kid, keys[kid])
    signature_text: str = receipt["signature"]
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except (binascii.Error, ValueError):
        signature = b""
    # Only canonical standard base64 of exactly 64 bytes, as the registry reads it.
    valid = len(signature) == 64 and base64.b64encode(signature).decode("ascii") == signature_text
    if valid:
        from cryptography.exceptions import InvalidSignature  # present: _public_key loaded it

        try:
            # The hash's raw bytes; `stated` equals the computed hex here.
            public.verify(signature, bytes.fromhex(stated))
        except InvalidSignature:
            valid = False
    if not valid:
        raise _fail("bad_signature", f"the signature does not verify with key {kid}", index, rid)
    return stated


def verify_receipt(receipt: Mapping[str, Any], keys: Mapping[str, PublicKey]) -> bool:
    """Checks one receipt's hash and signature; returns True or raises
    ProofError naming what failed (malformed receipt, receipt hash mismatch
    with the recomputed and stated hashes, unknown kid, bad signature).

    ``keys`` maps kid to public key (see :func:`published_keys`).  The chain
    link is not checked: one receipt cannot show what came before it.
    """
    content = _content(receipt, None)
    _check(receipt, content, keys, {}, None, None)
    return True


def verify_chain(receipts: Sequence[Mapping[str, Any]], keys: Mapping[str, PublicKey]) -> int:
    """Checks a tenant's receipts in chain order (as ``GET /api/v1/audit/receipts``
    exports them, every page concatenated): one tenant throughout, every
    hash, every link (the first receipt's ``prev_receipt_hash`` is null, each
    next one names its predecessor's hash), every signature.  Returns how many
    receipts verified; raises ProofError naming the first broken receipt by
    index and ``receipt_id`` and why, as ``hallctl audit verify`` does.

    Give it the whole chain from the start: a chain that begins mid-way fails
    at its first receipt, because that one's predecessor is missing.
    """
    prev: str | None = None
    tenant: str | None = None
    loaded: dict[str, Any] = {}
    for index, receipt in enumerate(receipts):
        content = _content(receipt, index)
        if index == 0:
            tenant = content["tenant_id"]
        elif content["tenant_id"] != tenant:
            raise _fail("wrong_tenant", f"belongs to tenant {content['tenant_id']}, not {tenant}",
                        index, content["receipt_id"])
        prev = _check(receipt, content, keys, loaded, index, (prev,))
    return len(receipts)
