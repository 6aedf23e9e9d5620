"""Transparency-log proofs and checkpoints, checked offline (issue 14).

Written from the public texts, not from the registry's Rust, so that what the
registry proves is checked by an independent implementation:

- RFC 6962 / RFC 9162 §2.1 Merkle trees: :func:`leaf_hash`, :func:`node_hash`,
  :func:`tree_head` (MTH), and the verification algorithms of RFC 9162
  §2.1.3.2 (:func:`verify_inclusion`) and §2.1.4.2 (:func:`verify_consistency`).
  A receipt's leaf is the 32 raw bytes of its ``receipt_hash``.
- C2SP ``signed-note`` with Ed25519 keys (:func:`open_note`,
  :class:`NoteVerifier`) and the C2SP ``tlog-checkpoint`` it carries
  (:class:`Checkpoint`).
- C2SP ``tlog-cosignature`` (Ed25519 ``cosignature/v1``): witnesses'
  cosignatures of a checkpoint (:class:`WitnessKey`, :func:`cosignatures`,
  :func:`require_cosignatures`, and :func:`cosign` to act as a witness).

Each check raises :class:`~hall_registry.errors.ProofError` (``code`` names
the failure) and returns nothing on success. Notes need the ``cryptography``
package (``pip install 'hall-registry[verify]'``); the Merkle checks do not.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from .card import _ed25519
from .errors import ProofError

__all__ = [
    "verifier",
    "Checkpoint",
    "Cosignature",
    "WitnessKey",
    "cosign",
    "cosignatures",
    "require_cosignatures",
    "NoteVerifier",
    "leaf_hash",
    "node_hash",
    "open_checkpoint",
    "open_note",
    "tree_head",
    "verify_consistency",
    "verify_inclusion",
]


def leaf_hash(leaf: bytes) -> bytes:
    """SHA-256(0x00 || leaf)."""
    return hashlib.sha256(b"\x00" + bytes(leaf)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + bytes(left) + bytes(right)).digest()


def tree_head(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of the leaves whose hashes are given (RFC 6962 §2.1)."""
    n = len(leaf_hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return bytes(leaf_hashes[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(tree_head(leaf_hashes[:k]), tree_head(leaf_hashes[k:]))


def _fail(message: str, code: str) -> None:
    raise ProofError(message, code=code)


def _hashes(*values: object) -> None:
    """Every value is 32 bytes (a SHA-256 hash), or ProofError."""
    for v in values:
        if not isinstance(v, (bytes, bytearray, memoryview)) or len(v) != 32:
            _fail("a hash is not 32 bytes", "malformed_proof")


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """That leaf hash ``leaf`` is at ``index`` of the tree of ``size`` leaves
    whose head is ``root`` (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size:
        _fail(f"leaf index {index} is not in a tree of {size}", "index_out_of_range")
    _hashes(leaf, root, *proof)
    fn, sn, r = index, size - 1, bytes(leaf)
    for p in proof:
        if sn == 0:
            _fail("the inclusion proof is too long", "wrong_length")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        _fail("the inclusion proof is too short", "wrong_length")
    if r != bytes(root):
        _fail("the inclusion proof does not lead to the root", "root_mismatch")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """That the tree of ``first`` leaves with head ``first_root`` is a prefix
    of the tree of ``second`` leaves with head ``second_root``
    (RFC 9162 §2.1.4.2)."""
    if not 0 < first <= second:
        _fail(f"tree sizes {first} and {second} cannot be proven consistent", "bad_sizes")
    _hashes(first_root, second_root, *proof)
    if first == second:
        if proof:
            _fail("equal sizes take an empty proof", "wrong_length")
        if bytes(first_root) != bytes(second_root):
            _fail("equal sizes with different heads", "root_mismatch")
        return
    if not proof:
        _fail("the consistency proof is empty", "wrong_length")
    path = [bytes(p) for p in proof]
    if first & (first - 1) == 0:
        path.insert(0, bytes(first_root))
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            _fail("the consistency proof is too long", "wrong_length")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        _fail("the consistency proof is too short", "wrong_length")
    if fr != bytes(first_root) or sr != bytes(second_root):
        _fail("the consistency proof does not lead to both heads", "root_mismatch")


_ED25519 = 0x01
_DASH = "\u2014 "
#: Most signature lines a note may carry (the spec asks for a cap; Go's is 100).
_MAX_SIGNATURES = 100


def _b64(s: str) -> bytes:
    """Strict standard base64: refuses what does not re-encode to itself."""
    try:
        raw = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raw = None
    if raw is None or base64.b64encode(raw).decode() != s:
        _fail("not canonical base64", "malformed_note")
    return raw


def _valid_name(name: str) -> bool:
    return bool(name) and not any(c.isspace() or c == "+" for c in name)


@dataclass(frozen=True)
class NoteVerifier:
    """A named Ed25519 key that verifies signed notes, as its verifier key
    ``<name>+<hex key hash>+<base64(0x01 || public key)>`` spells it."""

    name: str
    key_hash: bytes
    public_key: bytes

    @classmethod
    def parse(cls, vkey: str) -> NoteVerifier:
        name, key_hash, public_key = _parse_vkey(vkey, _ED25519, "not an Ed25519 verifier key")
        return cls(name=name, key_hash=key_hash, public_key=public_key)


def _parse_vkey(vkey: str, alg: int, wrong_alg: str) -> tuple[str, bytes, bytes]:
    """``<name>+<hex key hash>+<base64(alg || Ed25519 key)>`` (C2SP
    signed-note verifier keys): the name, the checked 4-byte key hash and
    the 32-byte public key."""
    parts = vkey.split("+", 2)
    if len(parts) != 3 or not _valid_name(parts[0]):
        _fail("a verifier key is <name>+<key hash>+<key>", "malformed_key")
    name, hash_hex, key_b64 = parts
    try:
        raw = _b64(key_b64)
    except ProofError:
        _fail("the verifier key is not base64", "malformed_key")
    if len(raw) != 33 or raw[0] != alg:
        _fail(wrong_alg, "malformed_key")
    try:
        _ed25519().Ed25519PublicKey.from_public_bytes(raw[1:])
    except ValueError:
        _fail("not an Ed25519 public key", "malformed_key")
    key_hash = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if hash_hex.lower() != key_hash.hex():
        _fail("the key hash does not match the name and key", "malformed_key")
    return name, key_hash, raw[1:]


def verifier(name: str, public_key: bytes) -> NoteVerifier:
    """The verifier of an Ed25519 ``public_key`` (32 bytes) under the key
    ``name`` (C2SP signed-note: its key hash is the first four bytes of
    SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key))."""
    if not _valid_name(name) or len(public_key) != 32:
        _fail("a key name without spaces or '+', and a 32-byte Ed25519 key", "malformed_key")
    raw = bytes([_ED25519]) + public_key
    key_hash = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    return NoteVerifier.parse(f"{name}+{key_hash.hex()}+{base64.b64encode(raw).decode()}")


@dataclass(frozen=True)
class OpenedNote:
    text: str
    signed_by: list[str] = field(default_factory=list)


def open_note(note: str, known: Sequence[NoteVerifier]) -> OpenedNote:
    """The text of a signed note and which ``known`` keys signed it.
    Signatures by other keys are ignored; a known key's signature that does
    not verify, or no verified known signature at all, raises ProofError."""
    split = note.rfind("\n\n")
    if split < 0:
        _fail("no blank line before the signatures", "malformed_note")
    text, sigs = note[: split + 1], note[split + 2 :]
    if not sigs.endswith("\n") or any(ord(c) < 0x20 and c != "\n" for c in note):
        _fail("malformed note", "malformed_note")
    lines = sigs[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        _fail("too many signature lines", "malformed_note")
    ed25519 = _ed25519()
    signed_by: list[str] = []
    checked: set[tuple[str, bytes]] = set()
    for line in lines:
        if not line.startswith(_DASH) or " " not in line[len(_DASH) :]:
            _fail("a signature line is not '— <name> <signature>'", "malformed_note")
        name, sig_b64 = line[len(_DASH) :].split(" ", 1)
        sig = _b64(sig_b64)
        if not _valid_name(name) or len(sig) < 4:
            _fail("a signature line is not '— <name> <signature>'", "malformed_note")
        match = [k for k in known if k.name == name and k.key_hash == sig[:4]]
        if not match or (name, sig[:4]) in checked:
            continue
        checked.add((name, sig[:4]))
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(match[0].public_key).verify(sig[4:], text.encode())
        except Exception:  # cryptography's InvalidSignature, or a malformed one
            _fail(f"the signature of {name} does not verify", "bad_signature")
        if name not in signed_by:
            signed_by.append(name)
    if not signed_by:
        _fail("no signature by a known key", "no_known_signature")
    return OpenedNote(text=text, signed_by=signed_by)


@dataclass(frozen=True)
class Checkpoint:
    """A C2SP tlog-checkpoint: origin, tree size, root hash, extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or not lines[0]:
            _fail("a checkpoint is origin, size and root lines", "malformed_checkpoint")
        size_s = lines[1]
        if (not size_s.isascii() or not size_s.isdigit() or len(size_s) > 20
                or (size_s != "0" and size_s.startswith("0")) or int(size_s) >= 2**64):
            _fail("the checkpoint size is not a decimal number", "malformed_checkpoint")
        if any(not line or any(ord(c) < 0x20 or ord(c) == 0x7F for c in line)
               for line in [lines[0], *lines[3:-1]]):
            _fail("an empty or malformed line", "malformed_checkpoint")
        try:
            root = base64.b64decode(lines[2], validate=True)
        except (binascii.Error, ValueError):
            root = b""
        if len(root) != 32:
            _fail("the checkpoint root is not a base64 SHA-256 hash", "malformed_checkpoint")
        return cls(origin=lines[0], size=int(size_s), root=root, extensions=tuple(lines[3:-1]))


def open_checkpoint(note: str, origin: str, known: Sequence[NoteVerifier]) -> Checkpoint:
    """The checkpoint of the log ``origin`` in ``note``, signed by one of
    ``known``: a checkpoint of another log (another tenant's, say) is
    refused even when the same key signed it."""
    checkpoint = Checkpoint.parse(open_note(note, known).text)
    if checkpoint.origin != origin:
        _fail(f"a checkpoint of {checkpoint.origin!r}, not {origin!r}", "wrong_origin")
    return checkpoint


_COSIGNATURE_V1 = 0x04


@dataclass(frozen=True)
class WitnessKey:
    """A witness's Ed25519 ``cosignature/v1`` key, as its verifier key
    ``<name>+<hex key id>+<base64(0x04 || public key)>`` spells it; its key
    id is the first four bytes of SHA-256(name || 0x0A || 0x04 || key)."""

    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def parse(cls, vkey: str) -> WitnessKey:
        name, key_id, public_key = _parse_vkey(
            vkey, _COSIGNATURE_V1, "not an Ed25519 cosignature/v1 key (type 0x04)")
        return cls(name=name, key_id=key_id, public_key=public_key)

    @classmethod
    def of(cls, name: str, public_key: bytes) -> WitnessKey:
        """The witness key of a 32-byte Ed25519 ``public_key`` under ``name``."""
        if not _valid_name(name) or len(public_key) != 32:
            _fail("a key name without spaces or '+', and a 32-byte Ed25519 key", "malformed_key")
        raw = bytes([_COSIGNATURE_V1]) + public_key
        key_id = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
        return cls.parse(f"{name}+{key_id.hex()}+{base64.b64encode(raw).decode()}")

    def vkey(self) -> str:
        raw = bytes([_COSIGNATURE_V1]) + self.public_key
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(raw).decode()}"


@dataclass(frozen=True)
class Cosignature:
    witness: str
    key_id: bytes
    timestamp: int
    line: str


def _cosigned_message(text: str, timestamp: int) -> bytes:
    # tlog-cosignature: "cosignature/v1", "time <POSIX seconds>", then the
    # checkpoint's whole note body, each line ending in a newline.
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def cosign(text: str, name: str, private_key: object, timestamp: int) -> str:
    """A witness's signature line (no newline) for the checkpoint note body
    ``text``, with ``private_key`` (a ``cryptography`` Ed25519PrivateKey)."""
    if not 0 <= timestamp < 2**63:
        _fail("a cosignature time is 0 to 2^63-1", "malformed_note")
    public = private_key.public_key().public_bytes_raw()  # type: ignore[attr-defined]
    witness = WitnessKey.of(name, public)
    signature = private_key.sign(_cosigned_message(text, timestamp))  # type: ignore[attr-defined]
    body = witness.key_id + timestamp.to_bytes(8, "big") + signature
    return f"{_DASH}{name} {base64.b64encode(body).decode()}"


def cosignatures(note: str, witnesses: Sequence[WitnessKey]) -> list[Cosignature]:
    """The cosignatures on ``note`` by ``witnesses``, each verified over the
    note's text; lines by other keys are ignored, a witness's line that
    does not verify raises ProofError."""
    split = note.rfind("\n\n")
    if split < 0:
        _fail("no blank line before the signatures", "malformed_note")
    text, sigs = note[: split + 1], note[split + 2 :]
    if not sigs.endswith("\n"):
        _fail("malformed note", "malformed_note")
    lines = sigs[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        _fail("too many signature lines", "malformed_note")
    ed25519 = _ed25519()
    found: list[Cosignature] = []
    for line in lines:
        if not line.startswith(_DASH) or " " not in line[len(_DASH) :]:
            _fail("a signature line is not '— <name> <signature>'", "malformed_note")
        name, sig_b64 = line[len(_DASH) :].split(" ", 1)
        sig = _b64(sig_b64)
        match = [w for w in witnesses if w.name == name and w.key_id == sig[:4]]
        if not match or any(c.witness == name and c.key_id == sig[:4] for c in found):
            continue
        if len(sig) != 4 + 8 + 64:
            _fail(f"the cosignature of {name} is malformed", "bad_signature")
        timestamp = int.from_bytes(sig[4:12], "big")
        if timestamp >= 2**63:
            _fail(f"the cosignature of {name} is dated past 2^63-1", "bad_signature")
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(match[0].public_key).verify(
                sig[12:], _cosigned_message(text, timestamp))
        except Exception:  # cryptography's InvalidSignature
            _fail(f"the cosignature of {name} does not verify", "bad_signature")
        found.append(Cosignature(witness=name, key_id=sig[:4], timestamp=timestamp, line=line))
    return found


def require_cosignatures(note: str, witnesses: Sequence[WitnessKey]) -> list[Cosignature]:
    """Every one of ``witnesses`` must have cosigned ``note``: what rules out
    a split view for a client that trusts one of them."""
    found = cosignatures(note, witnesses)
    for w in witnesses:
        if not any(c.witness == w.name and c.key_id == w.key_id for c in found):
            _fail(f"not cosigned by witness {w.name}", "not_witnessed")
    return found
