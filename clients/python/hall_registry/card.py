"""Signed capability cards (WCP §5.10), built and signed offline.

A card is a namespace key holder's statement that a worker, with these
capabilities, is exactly this package.  The registry accepts it
(``POST /api/v1/workers/{id}/attestations``) only when the Ed25519 signature
verifies over the card's canonical JSON bytes with a key registered on the
worker's namespace, so these functions do exactly what ``hallctl attest`` and
``attestation::card::sign_card`` do: same fields, same timestamps, same bytes
signed, same signature encoding (standard base64 of the 64 signature bytes).
Ed25519 is deterministic, so for the same card and key the signature here and
the one from ``hallctl`` are identical.

Key files are the ones ``hallctl keygen`` writes: the 32-byte seed as base64
(or hex), one line, mode 0600.  The same format is accepted for the registry's
own receipt key (``HALL_RECEIPT_SIGNING_KEY_FILE``).

Signing needs the ``cryptography`` package (``pip install 'hall-registry[verify]'``);
it is imported only when a key is used, so the rest of the client works without it.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import os
import re
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Union

from ._canonical import canonical_json

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = [
    "KeySource",
    "build_card",
    "canonical_card_bytes",
    "KEY_PROOF_PURPOSE",
    "generate_key_file",
    "key_proof",
    "key_proof_statement",
    "parse_seed",
    "public_key_and_kid",
    "sign_card",
]

#: What a namespace key's proof of possession says it is for.
KEY_PROOF_PURPOSE = "hall-registry/namespace-key/v1"

#: A signing key: a path to a ``hallctl keygen`` key file, the raw 32-byte
#: seed, or a ``cryptography`` ``Ed25519PrivateKey``.
KeySource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, "Ed25519PrivateKey"]

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_HEX64 = re.compile(r"[0-9A-Fa-f]{64}")

_INSTALL_HINT = (
    "Ed25519 signing and verification need the 'cryptography' package: "
    "pip install 'hall-registry[verify]'"
)


def _ed25519() -> Any:
    """The ``cryptography`` Ed25519 module, imported on first use.

    Lazy so that ``import hall_registry`` works with httpx alone; only the
    offline crypto needs the optional extra.
    """
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as e:
        raise ImportError(_INSTALL_HINT) from e
    return ed25519


def _rfc3339_seconds(t: datetime) -> str:
    """``2026-11-24T12:00:00Z``: UTC, whole seconds (truncated), ``Z`` suffix,
    as chrono's ``to_rfc3339_opts(SecondsFormat::Secs, true)`` writes it."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_card(
    worker: Mapping[str, Any],
    sha256: str,
    kid: str,
    *,
    issued_at: datetime | None = None,
    expires_in_days: int | None = None,
) -> dict[str, Any]:
    """The capability card ``hallctl attest`` would build for ``worker``.

    ``worker`` is the registry's worker object (``GET /api/v1/workers/{id}``):
    its ``worker_id`` and ``capabilities`` are copied as they are, and its
    ``worker_species_id`` when it has one, because the registry denies a card
    whose capabilities or species differ from the worker's.  ``sha256`` is the
    canonical package hash (:func:`hall_registry.package.package_hash`),
    ``kid`` the signing key's id (:func:`public_key_and_kid`).

    ``issued_at`` defaults to now; it must be timezone-aware (a naive time
    would be read in whatever zone the machine is in, and the registry denies
    cards issued more than five minutes in the future).  ``expires_in_days``
    adds ``expires_at`` that many days after ``issued_at``; without it the card
    does not expire.
    """
    for field in ("worker_id", "capabilities"):
        if field not in worker:
            raise ValueError(f"worker has no {field!r}; pass the registry's worker object")
    if not isinstance(sha256, str) or not _SHA256_HEX.fullmatch(sha256):
        raise ValueError("sha256 must be the package hash: 64 lowercase hex characters")
    if issued_at is None:
        issued_at = datetime.now(timezone.utc)
    elif issued_at.tzinfo is None or issued_at.utcoffset() is None:
        raise ValueError("issued_at must be timezone-aware (e.g. datetime.now(timezone.utc))")
    card: dict[str, Any] = {
        "worker_id": worker["worker_id"],
        "capabilities": copy.deepcopy(worker["capabilities"]),  # the card must not alias the worker
        "sha256": sha256,
        "issued_at": _rfc3339_seconds(issued_at),
        "kid": kid,
    }
    species = worker.get("worker_species_id")
    if isinstance(species, str):
        card["worker_species_id"] = species
    if expires_in_days is not None:
        if isinstance(expires_in_days, bool) or not isinstance(expires_in_days, int):
            raise TypeError("expires_in_days must be an int")
        if expires_in_days < 1:
            # hallctl would send it, and the registry refuses it: expires_at
            # must be after issued_at.
            raise ValueError("expires_in_days must be at least 1")
        card["expires_at"] = _rfc3339_seconds(issued_at + timedelta(days=expires_in_days))
    return card


def canonical_card_bytes(card: Mapping[str, Any]) -> bytes:
    """The bytes a card signature covers: the card as sent, in canonical JSON."""
    return canonical_json(card)


def parse_seed(text: str) -> bytes:
    """The 32-byte Ed25519 seed in a key file's text, as ``audit::parse_seed``
    reads it: surrounding whitespace ignored, then 64 hex digits, or else
    standard base64 with padding (nothing else: a key that means something
    different to the registry than here would be worse than an error).
    Raises ``ValueError`` otherwise.
    """
    text = text.strip()
    if _HEX64.fullmatch(text):
        return bytes.fromhex(text)
    try:
        seed = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        seed = b""
    # Round trip: the registry's decoder refuses missing padding and non-zero
    # trailing bits, which b64decode lets through.
    if len(seed) != 32 or base64.b64encode(seed).decode("ascii") != text:
        raise ValueError("not a key: expected base64 or hex of a 32-byte Ed25519 seed")
    return seed


def _private_key(key: KeySource) -> Ed25519PrivateKey:
    ed25519 = _ed25519()
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key  # type: ignore[no-any-return]
    if isinstance(key, (bytes, bytearray, memoryview)):
        seed = bytes(key)
        if len(seed) != 32:
            raise ValueError(
                f"a raw Ed25519 seed is 32 bytes, not {len(seed)}; pass a key file path as str"
            )
    elif isinstance(key, (str, os.PathLike)):
        path = os.fspath(key)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        try:
            seed = parse_seed(text)
        except ValueError:
            raise ValueError(
                f"{path} is not a key file (base64 or hex of a 32-byte Ed25519 seed)"
            ) from None
    else:
        raise TypeError(f"key must be a key file path or a 32-byte seed, not {type(key).__name__}")
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed)  # type: ignore[no-any-return]


def _raw_public(private: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def kid_of(public_key: bytes) -> str:
    """A namespace key's id: ``nsk_`` + the first 16 hex characters of the
    SHA-256 of the 32 raw public key bytes (``NamespacePublicKey::kid``), so
    the same key gets the same kid everywhere."""
    return "nsk_" + hashlib.sha256(public_key).hexdigest()[:16]


def public_key_and_kid(key: KeySource) -> tuple[str, str]:
    """``(public key as standard base64, kid)`` for a signing key: what
    ``hallctl keygen`` prints, and what ``POST /api/v1/namespaces/{ns}/keys``
    takes (``public_key``) and answers (``kid``)."""
    public = _raw_public(_private_key(key))
    return base64.b64encode(public).decode("ascii"), kid_of(public)


def sign_card(card: Mapping[str, Any], key: KeySource) -> str:
    """The card's signature, standard base64 of the 64 Ed25519 signature bytes
    over :func:`canonical_card_bytes` — what the registry verifies.

    Sign the card exactly as you will send it: any later change to a value
    breaks the signature (key order and whitespace do not, the canonical form
    ignores them).
    """
    signature = _private_key(key).sign(canonical_card_bytes(card))
    return base64.b64encode(signature).decode("ascii")


def key_proof_statement(tenant_id: str, namespace: str, kid: str) -> bytes:
    """The bytes a namespace key's proof of possession signs: the canonical
    JSON of ``{"kid", "namespace", "purpose", "tenant_id"}``, as
    ``attestation::keys::key_proof_statement`` builds it."""
    return canonical_json(
        {"purpose": KEY_PROOF_PURPOSE, "tenant_id": tenant_id, "namespace": namespace, "kid": kid}
    )


def key_proof(key: KeySource, tenant_id: str, namespace: str) -> str:
    """The proof that whoever registers ``key`` on ``namespace`` for
    ``tenant_id`` holds its private half: standard base64 of the key's
    Ed25519 signature over :func:`key_proof_statement` — the ``proof`` of
    ``POST /api/v1/namespaces/{ns}/keys``. It proves nothing for another
    tenant or namespace."""
    private = _private_key(key)
    kid = kid_of(_raw_public(private))
    signature = private.sign(key_proof_statement(tenant_id, namespace, kid))
    return base64.b64encode(signature).decode("ascii")


def generate_key_file(path: str | os.PathLike[str]) -> tuple[str, str]:
    """Makes a new Ed25519 key like ``hallctl keygen --out path``: writes the
    random 32-byte seed as standard base64 and a newline into a file that must
    not exist yet (``FileExistsError`` otherwise, so an existing key is never
    overwritten), created with mode 0600 (less any umask bits); returns
    ``(public key base64, kid)`` for registering on a namespace.
    """
    ed25519 = _ed25519()  # fail before creating the file when it is missing
    seed = secrets.token_bytes(32)
    fd = os.open(
        os.fspath(path),
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
        0o600,
    )
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(base64.b64encode(seed).decode("ascii") + "\n")
    public = _raw_public(ed25519.Ed25519PrivateKey.from_private_bytes(seed))
    return base64.b64encode(public).decode("ascii"), kid_of(public)
