"""The client's offline crypto against the registry's Rust implementation.

Vectors come from the Rust unit tests (crates/wcp/src/canonical.rs,
crates/attestation/src/package.rs, crates/attestation/src/card.rs,
crates/audit/src/lib.rs) and from RFC 8032; package hashes, key files and
card signatures are also compared with the real `hallctl` binary
($HALLCTL_BIN, else ~/.cache/hall-registry/target/debug/hallctl).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import stat
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

try:
    import hall_registry.card  # noqa: F401
except ImportError:  # running from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

try:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
except ImportError:  # canonical JSON and package hashes need no extra
    Ed25519PrivateKey = None  # type: ignore[assignment,misc]

from hall_registry._canonical import canonical_json
from hall_registry.card import (
    build_card,
    generate_key_file,
    key_proof,
    key_proof_statement,
    parse_seed,
    public_key_and_kid,
    sign_card,
)
from hall_registry.errors import HallError, ProofError
from hall_registry.package import package_hash
from hall_registry.verify import published_keys, receipt_hash, verify_chain, verify_receipt

HALLCTL = os.environ.get("HALLCTL_BIN") or os.path.expanduser(
    "~/.cache/hall-registry/target/debug/hallctl"
)
needs_crypto = pytest.mark.skipif(
    Ed25519PrivateKey is None, reason="needs 'cryptography' (pip install 'hall-registry[verify]')"
)
needs_hallctl = pytest.mark.skipif(
    not os.access(HALLCTL, os.X_OK),
    reason=f"hallctl is not built at {HALLCTL} (set HALLCTL_BIN or build the workspace)",
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def python_canonical(value: Any) -> bytes:
    """The reference the registry's format is defined by."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


# --------------------------------------------------------------------------
# canonical_json


def test_canonical_matches_rust_vector_for_nesting_sorting_and_escapes():
    v = {"b": [1, {"z": None, "a": True}], "a": 'x"y\\z\n\t', "é": "ü😀", "c": 1.5}
    assert canonical_json(v) == (
        rb'{"a":"x\"y\\z\n\t","b":[1,{"a":true,"z":null}],"c":1.5,"\u00e9":"\u00fc\ud83d\ude00"}'
    )


def test_canonical_escapes_control_characters_and_del_like_rust():
    assert canonical_json("\u0001\u007f\u0008\u000c/") == rb'"\u0001\u007f\b\f/"'
    assert canonical_json("\r\u001f ~") == rb'"\r\u001f ~"'


@pytest.mark.parametrize(
    "value,expected",
    [(1.0, "1.0"), (0.1, "0.1"), (1e16, "1e+16"), (1.5e-5, "1.5e-05"), (-0.0, "-0.0"),
     (123456.789, "123456.789"), (1e-4, "0.0001"), (9999999999999998.0, "9999999999999998.0"),
     (1.7976931348623157e308, "1.7976931348623157e+308"), (5e-324, "5e-324")],
)
def test_floats_print_like_the_rust_python_repr_port(value, expected):
    assert canonical_json(value) == expected.encode()


def test_artifact_hash_vector_from_rust():
    record = {"worker_id": "org.example.doc-summarizer", "capabilities": ["cap.doc.summarize"]}
    expected_input = b'{"capabilities":["cap.doc.summarize"],"worker_id":"org.example.doc-summarizer"}'
    assert canonical_json(record) == expected_input


def test_card_canonical_bytes_vector_from_rust():
    assert canonical_json({"b": 1, "a": ["x", "é"]}) == rb'{"a":["x","\u00e9"],"b":1}'


def test_integers_booleans_and_null_are_distinct():
    assert canonical_json([True, 1, False, 0, None]) == b"[true,1,false,0,null]"
    assert canonical_json(-(2**63)) == b"-9223372036854775808"
    assert canonical_json(2**64 - 1) == b"18446744073709551615"


def test_integers_beyond_64_bits_become_floats_as_serde_json_parses_them():
    assert canonical_json(2**64) == b"1.8446744073709552e+19"
    assert canonical_json(-(2**63) - 1) == b"-9.223372036854776e+18"


def test_every_bmp_character_and_some_astral_ones_escape_like_python():
    chars = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]
    chars += ["\U0001F600", "\U00010000", "\U0010FFFF"]
    text = "".join(chars)
    assert canonical_json(text) == python_canonical(text)
    assert canonical_json({text: text}) == python_canonical({text: text})


def test_keys_sort_by_code_point_at_every_level():
    v = {"b": {"β": 1, "a": 2, "Z": 3, "😀": 4, "\uffff": 5}, "a": [{"y": 1, "x": 2}], "": 0}
    assert canonical_json(v) == python_canonical(v)
    # Code-point order, not UTF-16 order: U+FFFF before U+1F600 (whose first unit is 0xD83D).
    assert canonical_json(v) == (
        rb'{"":0,"a":[{"x":2,"y":1}],"b":{"Z":3,"a":2,"\u03b2":1,"\uffff":5,"\ud83d\ude00":4}}'
    )


def _random_value(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(8 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.randint(-(2**63), 2**64 - 1)
    if kind == 3:
        return rng.choice([rng.uniform(-1e6, 1e6), rng.random() * 10 ** rng.randint(-30, 30), float(rng.randint(-9, 9))])
    if kind in (4, 5):
        return _random_text(rng)
    if kind == 6:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(5))]
    return {_random_text(rng): _random_value(rng, depth + 1) for _ in range(rng.randrange(5))}


def _random_text(rng: random.Random) -> str:
    """ASCII, the rest of the BMP and astral planes; no lone surrogates."""
    return "".join(chr(rng.choice([rng.randrange(0x80), rng.randrange(0x80, 0xD800),
                                   rng.randrange(0xE000, 0x110000)])) for _ in range(rng.randrange(8)))


def test_random_documents_serialise_like_python_json_dumps():
    rng = random.Random(20261124)
    for _ in range(500):
        v = _random_value(rng, 0)
        assert canonical_json(v) == python_canonical(v), v


def test_tuples_are_arrays():
    assert canonical_json(("a", (1, 2))) == b'["a",[1,2]]'


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), 10**400])
def test_numbers_no_request_can_carry_are_refused(bad):
    with pytest.raises(ValueError):
        canonical_json({"x": bad})


def test_lone_surrogates_and_non_string_keys_and_unknown_types_are_refused():
    with pytest.raises(ValueError, match="surrogate"):
        canonical_json("a\ud800b")
    with pytest.raises(TypeError, match="keys must be str"):
        canonical_json({1: "a"})
    with pytest.raises(TypeError):
        canonical_json({"a": {1, 2}})
    with pytest.raises(TypeError):
        canonical_json(b"bytes")


# --------------------------------------------------------------------------
# package_hash


def write(root: Path, rel: str, data: bytes = b"") -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)


def record(rel: str, data: bytes) -> bytes:
    return f"{rel}\n{len(data)}\n{sha(data)}\n".encode()


def test_empty_package_hashes_the_empty_string(tmp_path):
    assert package_hash(tmp_path) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_one_file_record_is_path_size_and_content_hash(tmp_path):
    write(tmp_path, "a.txt", b"hello")
    assert package_hash(tmp_path) == sha(record("a.txt", b"hello"))


def test_order_is_component_wise_not_string_order(tmp_path):
    write(tmp_path, "code.txt", b"1")
    write(tmp_path, "code/x.py", b"2")
    write(tmp_path, "a", b"")
    # String order would put code.txt first ('.' < '/').
    expected = sha(record("a", b"") + record("code/x.py", b"2") + record("code.txt", b"1"))
    assert package_hash(str(tmp_path)) == expected


def test_excluded_names_are_skipped_at_any_depth_and_near_misses_are_hashed(tmp_path):
    write(tmp_path, "code/main.py", b"print(1)\n")
    base = package_hash(tmp_path)
    for rel in ["manifest.json", "manifest.sig", "manifest.tmp", ".DS_Store", "code/.DS_Store",
                ".git/HEAD", "sub/.git/config", "__pycache__/x.cpython-311.pyc",
                "code/__pycache__/notes.txt", "code/main.pyc", "deep/manifest.json",
                "other/manifest.json/inner.txt"]:
        write(tmp_path, rel, b"x")
        assert package_hash(tmp_path) == base, rel
    for kept in ["manifest.jsonx", "git/HEAD", "main.pyc.txt", "pycache/x"]:
        write(tmp_path, kept, b"x")
        changed = package_hash(tmp_path)
        assert changed != base, kept
        base = changed


def test_empty_files_and_non_ascii_names_are_hashed_as_utf8(tmp_path):
    write(tmp_path, "données/é.txt")
    write(tmp_path, "z")
    assert package_hash(tmp_path) == sha(record("données/é.txt", b"") + record("z", b""))


def test_a_link_to_a_file_is_read_and_a_link_to_a_directory_is_not_entered(tmp_path):
    pkg = tmp_path / "pkg"
    outside = tmp_path / "outside"
    write(outside, "secret.txt", b"outside")
    write(pkg, "real.txt", b"real")
    os.symlink(outside / "secret.txt", pkg / "linked.txt")
    os.symlink(outside, pkg / "linked-dir")
    os.symlink(tmp_path / "missing", pkg / "dangling")
    assert package_hash(pkg) == sha(record("linked.txt", b"outside") + record("real.txt", b"real"))


def test_a_non_utf8_file_name_is_refused(tmp_path):
    os.close(os.open(os.fsencode(tmp_path) + b"/bad-\xff.txt", os.O_CREAT | os.O_WRONLY, 0o644))
    with pytest.raises(ValueError, match="not a UTF-8 file name"):
        package_hash(tmp_path)


def test_a_file_is_not_a_package(tmp_path):
    write(tmp_path, "f", b"x")
    with pytest.raises(NotADirectoryError):
        package_hash(tmp_path / "f")


def hallctl_hash(root: Path) -> str:
    done = subprocess.run([HALLCTL, "hash", str(root)], capture_output=True, text=True, check=True)
    return done.stdout.strip()


TREES: dict[str, dict[str, bytes]] = {
    "empty": {},
    "nested": {"code/a/b/c.py": b"x = 1\n", "code/a/d.txt": b"d", "top.txt": b"t"},
    "prefix siblings": {"code/x.py": b"1", "code.txt": b"2", "code-b/y": b"3", "code.d/z": b"4",
                        "a/b": b"", "a-b": b""},
    "empty files": {"a": b"", "b/c": b"", "d/e/f": b""},
    "unicode names": {"données/é.txt": "ünïcödé".encode(), "日本/ファイル.md": b"#", "z\u00e9": b"",
                      "e\u0301": b"decomposed", "😀/x": b"astral", "Zz": b"", "zz": b""},
    "excluded": {"code/main.py": b"main", "manifest.json": b"{}", ".git/HEAD": b"ref",
                 "code/__pycache__/m.pyc": b"\x00", "a.pyc": b"", "manifest.jsonx": b"kept"},
    "binary and larger": {"blob.bin": bytes(range(256)) * 5000, "nl": b"\r\n\n"},
}


@needs_hallctl
@pytest.mark.parametrize("name", sorted(TREES))
def test_package_hash_equals_hallctl_hash(tmp_path, name):
    root = tmp_path / "pkg"
    root.mkdir()
    for rel, data in TREES[name].items():
        write(root, rel, data)
    assert package_hash(root) == hallctl_hash(root)


@needs_hallctl
def test_package_hash_equals_hallctl_hash_with_links(tmp_path):
    pkg = tmp_path / "pkg"
    write(tmp_path / "outside", "inner/deep.txt", b"never hashed")
    write(tmp_path / "outside", "file.txt", b"read through the link")
    write(pkg, "code/main.py", b"main")
    os.symlink(tmp_path / "outside" / "file.txt", pkg / "code" / "link.txt")
    os.symlink(tmp_path / "outside", pkg / "vendor")
    os.symlink("main.py", pkg / "code" / "relative-link.py")
    os.symlink(tmp_path / "nowhere", pkg / "dangling")
    ours = package_hash(pkg)
    assert ours == hallctl_hash(pkg)
    os.remove(pkg / "vendor")  # the directory link contributed nothing
    assert package_hash(pkg) == ours


@needs_hallctl
def test_hallctl_also_refuses_non_utf8_names(tmp_path):
    os.close(os.open(os.fsencode(tmp_path) + b"/\xfe", os.O_CREAT | os.O_WRONLY, 0o644))
    done = subprocess.run([HALLCTL, "hash", str(tmp_path)], capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "UTF-8" in done.stderr
    with pytest.raises(ValueError):
        package_hash(tmp_path)


# --------------------------------------------------------------------------
# keys and cards

# RFC 8032 §7.1, test 1.
RFC_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC_EMPTY_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


@needs_crypto
def test_public_key_and_kid_follow_rfc8032_and_the_nsk_rule():
    public_b64, kid = public_key_and_kid(RFC_SEED)
    assert base64.b64decode(public_b64) == RFC_PUBLIC
    assert kid == "nsk_" + sha(RFC_PUBLIC)[:16] and len(kid) == 20


@needs_crypto
def test_signing_is_ed25519_over_the_canonical_bytes_in_standard_base64():
    # An empty card is no card, but it pins the primitive: canonical bytes of {} are "{}".
    assert canonical_json({}) == b"{}"
    key = Ed25519PrivateKey.from_private_bytes(RFC_SEED)
    assert base64.b64decode(sign_card({}, RFC_SEED)) == key.sign(b"{}")
    assert key.sign(b"") == RFC_EMPTY_SIGNATURE  # the library is the RFC's Ed25519


@needs_crypto
def test_a_namespace_key_proof_signs_the_registrys_statement_byte_for_byte():
    _, kid = public_key_and_kid(RFC_SEED)
    statement = key_proof_statement("org.acme", "x.acme", kid)
    assert statement == (
        b'{"kid":"nsk_21fe31dfa154a261","namespace":"x.acme",'
        b'"purpose":"hall-registry/namespace-key/v1","tenant_id":"org.acme"}'
    )
    proof = key_proof(RFC_SEED, "org.acme", "x.acme")
    # The same vector is pinned in crates/attestation/src/keys.rs.
    assert proof == "Z2yFMTCIXuyroF4iCopJXZl46oDJ977O0I34xZxWK+SQp20YEoaimxQLeSQlAExEIKtnXTK1pRYmtiOYDhz6DQ=="
    public = Ed25519PrivateKey.from_private_bytes(RFC_SEED).public_key()
    public.verify(base64.b64decode(proof), statement)
    assert key_proof(RFC_SEED, "org.other", "x.acme") != proof


def key_file(tmp_path: Path, text: str) -> Path:
    p = tmp_path / f"k{len(list(tmp_path.iterdir()))}.key"
    p.write_text(text)
    return p


@needs_crypto
def test_key_files_hold_the_seed_as_base64_or_hex(tmp_path):
    expected = public_key_and_kid(RFC_SEED)
    for text in [base64.b64encode(RFC_SEED).decode() + "\n", RFC_SEED.hex(), RFC_SEED.hex().upper() + "\n",
                 "  " + base64.b64encode(RFC_SEED).decode() + "  \r\n"]:
        path = key_file(tmp_path, text)
        assert public_key_and_kid(path) == expected
        assert public_key_and_kid(str(path)) == expected


@needs_crypto
@pytest.mark.parametrize("text", [
    "",
    "not a key",
    base64.b64encode(bytes(31)).decode(),                  # 31 bytes
    base64.b64encode(bytes(33)).decode(),                  # 33 bytes
    base64.b64encode(RFC_SEED).decode().rstrip("="),        # no padding: the registry refuses it
    base64.b64encode(RFC_SEED).decode()[:-2] + "B=",       # non-zero trailing bits
    base64.urlsafe_b64encode(b"\xff" * 32).decode(),       # URL-safe alphabet
    RFC_SEED.hex()[:-1] + "g",
])
def test_anything_else_is_not_a_key(tmp_path, text):
    with pytest.raises(ValueError):
        parse_seed(text)
    with pytest.raises(ValueError, match="is not a key file"):
        public_key_and_kid(key_file(tmp_path, text))


@needs_crypto
def test_raw_seeds_must_be_32_bytes():
    with pytest.raises(ValueError, match="32 bytes"):
        sign_card({}, bytes(31))
    with pytest.raises(TypeError):
        sign_card({}, 12345)  # type: ignore[arg-type]


@needs_crypto
def test_generate_key_file_is_0600_create_new_and_round_trips(tmp_path):
    path = tmp_path / "signing.key"
    public_b64, kid = generate_key_file(path)
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0
    seed = parse_seed(path.read_text())
    assert path.read_text() == base64.b64encode(seed).decode() + "\n"
    assert public_key_and_kid(path) == (public_b64, kid)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        generate_key_file(path)
    assert path.read_bytes() == before
    assert generate_key_file(tmp_path / "other.key") != (public_b64, kid)


@needs_crypto
@needs_hallctl
def test_hallctl_keygen_files_give_the_same_public_key_and_kid(tmp_path):
    path = tmp_path / "hallctl.key"
    done = subprocess.run([HALLCTL, "keygen", "--out", str(path)], capture_output=True, text=True, check=True)
    printed = dict(line.split(":", 1) for line in done.stdout.splitlines())
    assert public_key_and_kid(path) == (printed["Public key"].strip(), printed["Key id"].strip())
    # Same file format and mode as generate_key_file writes.
    ours = tmp_path / "py.key"
    generate_key_file(ours)
    assert stat.S_IMODE(os.stat(path).st_mode) == stat.S_IMODE(os.stat(ours).st_mode)
    assert len(path.read_bytes()) == len(ours.read_bytes()) == 45 and path.read_text().endswith("\n")


WORKER = {"id": "wrk_0123", "worker_id": "x.acme.summarizer", "worker_species_id": "wrk.doc.summarizer",
          "capabilities": ["cap.doc.summarize", "cap.web.fetch"], "name": "ignored"}


@needs_crypto
def test_build_card_has_exactly_the_fields_hallctl_sends():
    t = datetime(2026, 11, 24, 13, 0, 5, 999999, tzinfo=timezone(timedelta(hours=1)))
    card = build_card(WORKER, "a" * 64, "nsk_0011223344556677", issued_at=t, expires_in_days=30)
    assert card == {
        "worker_id": "x.acme.summarizer", "worker_species_id": "wrk.doc.summarizer",
        "capabilities": ["cap.doc.summarize", "cap.web.fetch"], "sha256": "a" * 64,
        "issued_at": "2026-11-24T12:00:05Z", "expires_at": "2026-12-24T12:00:05Z",
        "kid": "nsk_0011223344556677",
    }


@needs_crypto
def test_build_card_defaults_to_now_and_leaves_out_absent_species_and_expiry():
    before = datetime.now(timezone.utc).replace(microsecond=0)
    card = build_card({**WORKER, "worker_species_id": None}, "b" * 64, "nsk_x")
    after = datetime.now(timezone.utc)
    assert set(card) == {"worker_id", "capabilities", "sha256", "issued_at", "kid"}
    issued = datetime.strptime(card["issued_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert before <= issued <= after


@needs_crypto
@pytest.mark.parametrize("kwargs,error", [
    ({"sha256": "A" * 64}, ValueError), ({"sha256": "a" * 63}, ValueError),
    ({"issued_at": datetime(2026, 1, 1)}, ValueError), ({"expires_in_days": 0}, ValueError),
    ({"expires_in_days": 1.5}, TypeError), ({"worker": {"worker_id": "x.a.b"}}, ValueError),
])
def test_build_card_refuses_what_the_registry_would_refuse(kwargs, error):
    args = {"worker": WORKER, "sha256": "a" * 64, "kid": "nsk_x", **kwargs}
    with pytest.raises(error):
        build_card(args.pop("worker"), args.pop("sha256"), args.pop("kid"), **args)


@needs_crypto
def test_a_signed_card_verifies_over_pythons_canonical_bytes_and_any_change_breaks_it():
    # crates/attestation/src/card.rs: a_signed_card_verifies_and_any_change_breaks_it.
    seed = bytes([3] * 32)
    card = {"worker_id": "x.acme.summarizer", "capabilities": ["cap.doc.summarize"], "sha256": "a" * 64,
            "issued_at": "2026-11-24T12:00:00Z", "kid": "nsk_0011223344556677",
            "worker_species_id": "wrk.doc.summarizer"}
    signature = base64.b64decode(sign_card(card, seed), validate=True)
    assert len(signature) == 64
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    public.verify(signature, python_canonical(card))  # raises if not
    assert sign_card(dict(reversed(list(card.items()))), seed) == sign_card(card, seed)
    changed = {**card, "capabilities": ["cap.doc.summarize", "cap.web.fetch"]}
    assert sign_card(changed, seed) != sign_card(card, seed)
    other = Ed25519PrivateKey.from_private_bytes(bytes([4] * 32))
    assert sign_card(card, other) != sign_card(card, seed)


@needs_crypto
def test_missing_cryptography_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.asymmetric", None)
    with pytest.raises(ImportError, match=r"pip install 'hall-registry\[verify\]'"):
        sign_card({}, RFC_SEED)


class _FakeRegistry(BaseHTTPRequestHandler):
    """Answers hallctl attest's two calls and keeps what it posted."""

    # Set per test on a subclass made with type().
    worker: ClassVar[dict[str, Any]] = {}
    posted: ClassVar[list[dict[str, Any]]] = []

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        # A whole worker as GET /api/v1/workers/{id} answers it (hallctl reads
        # answers as their API types), with the test's fields on top.
        worker_id = self.worker["worker_id"]
        self._send(200, {
            "id": "wrk_0123", "worker_id": worker_id, "namespace": worker_id.rsplit(".", 1)[0],
            "name": worker_id.rsplit(".", 1)[-1], "tenant_id": "org.acme", "status": "active",
            "policy_tier": 1, "capabilities": [], "worker_species_id": None, "risk_tier": None,
            "allowed_environments": ["dev"], "required_controls": [], "currently_implements": [],
            "blast_radius": None, "blast_score": None, "privilege_envelope": None,
            "owner": "org.acme", "contact": None, "artifact_hash": None,
            "max_data_label": "PUBLIC", "visibility": "tenant", "record": {},
            "created_at": "2026-11-24T12:00:00Z", "updated_at": "2026-11-24T12:00:00Z",
            "revoked_at": None, **self.worker,
        })

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.posted.append(body)
        # The attestation as POST /api/v1/workers/{id}/attestations answers it.
        self._send(201, {
            "id": "att_fake", "worker_id": self.worker["worker_id"], "namespace": "x.acme",
            "sha256": body["card"]["sha256"], "package_hash": body["card"]["sha256"],
            "status": "attested", "reason": None, "kind": "card", "signed_by": body["card"]["kid"],
            "attested_at": "2026-11-24T12:00:01Z", "created_at": "2026-11-24T12:00:01Z",
            "label": None, "ai_generated": False, "ai_service": None, "ai_model": None,
            "worker_species_id": None, "worker_version": None, "manifest_path": None,
        })

    def log_message(self, *args: Any) -> None:
        pass


@needs_crypto
@needs_hallctl
@pytest.mark.parametrize("worker,days", [
    (WORKER, 7),
    # Escapes, non-ASCII, astral characters and DEL in the signed bytes: a
    # real registry would refuse these ids, but hallctl signs what it is given.
    ({"worker_id": "x.acme.ré\"sumé\\😀\u007f", "worker_species_id": None,
      "capabilities": ["cap.ü\n", "cap.\t/\u2028", "cap.z"]}, None),
])
def test_hallctl_attest_and_python_sign_the_same_card_identically(tmp_path, worker, days):
    pkg = tmp_path / "pkg"
    write(pkg, "worker.py", b"print('hi')\n")
    write(pkg, "données/é.txt", b"x")
    key = tmp_path / "signing.key"
    public_b64, kid = generate_key_file(key)  # written by Python, read by hallctl
    handler = type("Handler", (_FakeRegistry,), {"worker": worker, "posted": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        cmd = [HALLCTL, "--registry", f"http://127.0.0.1:{server.server_address[1]}", "--api-key", "k",
               "attest", str(pkg), "--worker", "wrk_0123", "--key", str(key)]
        if days:
            cmd += ["--expires-in-days", str(days)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr
    (body,) = handler.posted
    card, signature = body["card"], body["signature"]
    assert card["sha256"] == package_hash(pkg)
    assert card["kid"] == kid and f"Signed by:    {kid}" in done.stdout
    issued = datetime.strptime(card["issued_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert build_card(worker, package_hash(pkg), kid, issued_at=issued, expires_in_days=days) == card
    assert sign_card(card, key) == signature
    Ed25519PrivateKey.from_private_bytes(parse_seed(key.read_text())).public_key().verify(
        base64.b64decode(signature), python_canonical(card))
    assert base64.b64encode(
        Ed25519PrivateKey.from_private_bytes(parse_seed(key.read_text())).public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)).decode() == public_b64


# --------------------------------------------------------------------------
# receipts


def receipt_kid(key: Ed25519PrivateKey) -> str:
    return "rk_" + sha(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))[:16]


def content(n: int, prev: str | None, kid: str) -> dict[str, Any]:
    """crates/audit/src/lib.rs tests' `content`."""
    return {
        "receipt_id": f"0193a1b2-0000-7000-8000-{n:012}", "spec_version": "0.2", "tenant_id": "org.acme",
        "correlation_id": f"corr-{n}", "decided_at": "2026-11-24T12:00:00.000Z", "worker_id": "x.acme.w",
        "capability_id": "cap.data.read.v1", "env": "dev", "data_label": "PUBLIC",
        "outcome": "ALLOW" if n % 2 == 0 else "DENY",
        "deny_code": "DENY_ENV_NOT_ALLOWED" if n % 2 == 1 else None, "tier": 2,
        "policy_version": "hall-default-policy/1", "controls_verified": [], "request_hash": None,
        "dry_run": False, "prev_receipt_hash": prev, "signing_key_id": kid,
    }


def seal(c: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """audit::seal, written with json.dumps rather than the code under test."""
    digest = hashlib.sha256(python_canonical(c)).digest()
    return {**c, "receipt_hash": digest.hex(), "signature": base64.b64encode(key.sign(digest)).decode()}


K5 = Ed25519PrivateKey.from_private_bytes(bytes([5] * 32)) if Ed25519PrivateKey else None


def chain(n: int, key: Ed25519PrivateKey = K5) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        out.append(seal(content(i, out[-1]["receipt_hash"] if out else None, receipt_kid(key)), key))
    return out


def keys_of(*keys: Ed25519PrivateKey) -> dict[str, bytes]:
    return {receipt_kid(k): k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) for k in keys}


def proof_error(fn: Any, *args: Any) -> ProofError:
    with pytest.raises(ProofError) as info:
        fn(*args)
    return info.value


@needs_crypto
def test_a_sealed_chain_verifies_with_only_the_public_key():
    c = chain(5)
    assert c[0]["prev_receipt_hash"] is None
    assert verify_chain(c, keys_of(K5)) == 5
    assert all(verify_receipt(r, keys_of(K5)) is True for r in c)
    assert receipt_hash(c[2]) == c[2]["receipt_hash"]
    assert verify_chain([], {}) == 0


@needs_crypto
def test_a_changed_receipt_is_named_by_its_hash_with_both_hashes():
    c = chain(5)
    c[1] = {**c[1], "outcome": "ALLOW", "deny_code": None}
    e = proof_error(verify_chain, c, keys_of(K5))
    assert (e.code, e.index, e.receipt_id) == ("hash_mismatch", 1, c[1]["receipt_id"])
    assert f"receipt 1 ({c[1]['receipt_id']})" in str(e)
    assert receipt_hash(c[1]) in str(e) and c[1]["receipt_hash"] in str(e)
    assert "recomputed" in str(e) and "stated" in str(e)
    e = proof_error(verify_receipt, c[1], keys_of(K5))
    assert e.code == "hash_mismatch" and c[1]["receipt_id"] in str(e)


@needs_crypto
def test_a_deleted_receipt_breaks_the_next_link():
    c = chain(5)
    del c[3]
    e = proof_error(verify_chain, c, keys_of(K5))
    assert (e.code, e.index, e.receipt_id) == ("broken_link", 3, c[3]["receipt_id"])
    assert "does not link" in str(e)
    e = proof_error(verify_chain, chain(5)[1:], keys_of(K5))
    assert (e.code, e.index) == ("broken_link", 0)


@needs_crypto
def test_reordered_receipts_break_the_chain():
    c = chain(4)
    c[1], c[2] = c[2], c[1]
    assert proof_error(verify_chain, c, keys_of(K5)).index == 1


@needs_crypto
def test_a_forged_signature_and_an_unknown_key_are_named():
    forger = Ed25519PrivateKey.from_private_bytes(bytes([6] * 32))
    c = chain(3)
    forged = seal({**content(2, c[1]["receipt_hash"], receipt_kid(K5)), "outcome": "ALLOW"}, forger)
    c[2] = forged
    e = proof_error(verify_chain, c, keys_of(K5))
    assert (e.code, e.index) == ("bad_signature", 2) and receipt_kid(K5) in str(e)
    assert proof_error(verify_receipt, forged, keys_of(K5)).code == "bad_signature"
    e = proof_error(verify_chain, chain(2, forger), keys_of(K5))
    assert (e.code, e.index) == ("unknown_key", 0) and receipt_kid(forger) in str(e)
    assert proof_error(verify_receipt, chain(1, forger)[0], keys_of(K5)).code == "unknown_key"


@needs_crypto
def test_rotated_keys_verify_their_own_receipts():
    old, new = (Ed25519PrivateKey.from_private_bytes(bytes([i] * 32)) for i in (1, 2))
    c = chain(2, old)
    c.append(seal(content(2, c[-1]["receipt_hash"], receipt_kid(new)), new))
    assert verify_chain(c, {**keys_of(old), **keys_of(new)}) == 3
    assert proof_error(verify_chain, c, keys_of(old)).index == 2


@needs_crypto
def test_signatures_must_be_64_bytes_of_canonical_standard_base64():
    r = chain(1)[0]
    raw = bytearray(base64.b64decode(r["signature"]))
    raw[10] ^= 0x01
    for bad in [base64.b64encode(raw).decode(), r["signature"].rstrip("="), r["signature"] + "AA==",
                base64.urlsafe_b64encode(base64.b64decode(r["signature"])).decode().replace("=", "") + "x",
                base64.b64decode(r["signature"]).hex()]:
        assert proof_error(verify_receipt, {**r, "signature": bad}, keys_of(K5)).code == "bad_signature", bad


@needs_crypto
def test_one_tenant_per_chain():
    c = chain(2)
    c[1] = seal({**content(1, c[0]["receipt_hash"], receipt_kid(K5)), "tenant_id": "org.other"}, K5)
    e = proof_error(verify_chain, c, keys_of(K5))
    assert (e.code, e.index) == ("wrong_tenant", 1) and "org.other" in str(e)


@needs_crypto
def test_approval_id_is_hashed_only_when_set_and_extra_fields_are_not_hashed():
    r = chain(1)[0]
    assert receipt_hash({**r, "approval_id": None}) == r["receipt_hash"]
    assert receipt_hash({**r, "unrelated": "x"}) == r["receipt_hash"]
    with_approval = seal({**content(0, None, receipt_kid(K5)), "approval_id": "5f0c6b1e"}, K5)
    assert verify_receipt(with_approval, keys_of(K5))
    assert proof_error(verify_receipt, {**with_approval, "approval_id": None}, keys_of(K5)).code == "hash_mismatch"
    # Optional fields missing altogether mean null, as the registry reads them.
    trimmed = {k: v for k, v in r.items() if k not in ("deny_code", "request_hash", "prev_receipt_hash")}
    assert verify_receipt(trimmed, keys_of(K5))


# crates/audit/src/lib.rs tests' `vector_content`, sealed with K5 onto a chain
# head of "ab" * 32: the receipt as the registry exported it before receipts
# had a format version (version 1), and the same decision in version 2.
V1_RECEIPT: dict[str, Any] = {
    "receipt_id": "0193a1b2-0000-7000-8000-000000000001", "spec_version": "0.1.0", "tenant_id": "org.acme",
    "correlation_id": "corr-1", "decided_at": "2026-11-24T12:00:00.000Z", "worker_id": "x.acme.w",
    "capability_id": "cap.data.read.v1", "env": "dev", "data_label": "PUBLIC", "outcome": "DENY",
    "deny_code": "DENY_ENV_NOT_ALLOWED", "tier": 2, "policy_version": "hall-default-policy/1",
    "controls_verified": ["sbom"], "request_hash": None, "dry_run": False, "prev_receipt_hash": "ab" * 32,
    "signing_key_id": "rk_7599776c3085e3f9",
    "receipt_hash": "10c73152c8800c8d11c489d6c346630cde3e9a852abaac770a3ec19775ee22af",
    "signature": "a5Ai6inLvQTM8QXKv2dWHkLVovzPyDF+o4weqmQFjvwIFiNHk2cOFbyHP8D3j3A9zQbNB2SbXfMSG6vsx8liCg==",
}
V2_RECEIPT: dict[str, Any] = {
    **V1_RECEIPT, "receipt_version": 2, "acting_key_id": "0193a1b2-5555-7000-8000-00000000000a",
    "receipt_hash": "b34fa6c48fcdf181c7386f435a6f177b96b227f94309ff71851ddb43747e9dd6",
    "signature": "dWY7C8B9wY13wmNNK5q1cWYfexPyP/Dglt2GqY7FVtAK5NOGnPTYHRhOT8R7pIf/7p9SfgHXJLOI0IMOju0QAg==",
}


# crates/audit/src/lib.rs tests' `v3_content`: a route decision's receipt.
V3_RECEIPT: dict[str, Any] = {
    **V2_RECEIPT, "receipt_version": 3, "matched_rule_id": "rr_doc", "rules_version": "4",
    "rules_sha256": "cd" * 32, "selected_worker_species_id": "wrk.doc.summarizer",
    "receipt_hash": "b25b4248bdf40c1d797e03ba86933fc6c2cc6dabdc9e2ba1db18b5e665d77675",
    "signature": "//Tksj3AD8nGPnGHUTkMlAU1h+su/FeudRHqJwSiUGbEtBH157gq18iiukYTXAAKb7UFXG8wWQdfoLvquHEfCQ==",
}


@needs_crypto
def test_a_route_receipt_verifies_and_its_route_evidence_is_covered():
    assert verify_receipt(V3_RECEIPT, keys_of(K5))
    changed = {**V3_RECEIPT, "rules_version": "5"}
    assert proof_error(verify_receipt, changed, keys_of(K5)).code == "hash_mismatch"
    dropped = {k: v for k, v in V3_RECEIPT.items() if k != "matched_rule_id"}
    assert proof_error(verify_receipt, dropped, keys_of(K5)).code == "hash_mismatch"


@needs_crypto
def test_receipts_of_both_formats_from_the_registry_verify():
    assert verify_receipt(V1_RECEIPT, keys_of(K5))
    assert verify_receipt(V2_RECEIPT, keys_of(K5))
    # An explicit version 1 is the absent field, as the registry reads it.
    assert receipt_hash({**V1_RECEIPT, "receipt_version": 1}) == V1_RECEIPT["receipt_hash"]


@needs_crypto
def test_a_changed_or_dropped_acting_key_id_breaks_the_receipt():
    changed = {**V2_RECEIPT, "acting_key_id": "0193a1b2-6666-7000-8000-00000000000b"}
    assert proof_error(verify_receipt, changed, keys_of(K5)).code == "hash_mismatch"
    # Rehashed to match its content, the registry's signature no longer covers it.
    rehashed = {**changed, "receipt_hash": receipt_hash(changed)}
    assert proof_error(verify_receipt, rehashed, keys_of(K5)).code == "bad_signature"
    dropped = {k: v for k, v in V2_RECEIPT.items() if k not in ("acting_key_id", "receipt_version")}
    dropped["receipt_hash"] = receipt_hash(dropped)
    assert proof_error(verify_receipt, dropped, keys_of(K5)).code == "bad_signature"


@needs_crypto
def test_an_unknown_receipt_version_is_named_and_a_malformed_one_is_malformed():
    e = proof_error(verify_receipt, {**V2_RECEIPT, "receipt_version": 4}, keys_of(K5))
    assert e.code == "unsupported_version" and "receipt_version 4" in str(e)
    e = proof_error(verify_chain, [chain(1)[0], {**V2_RECEIPT, "receipt_version": 4}], keys_of(K5))
    assert (e.code, e.index) == ("unsupported_version", 1)
    for bad in ["2", None, True, 2.0]:
        e = proof_error(verify_receipt, {**V2_RECEIPT, "receipt_version": bad}, keys_of(K5))
        assert e.code == "malformed" and "receipt_version" in str(e), bad


@needs_crypto
@pytest.mark.parametrize("change", [
    {"tier": "2"}, {"tier": True}, {"tier": 256}, {"tier": 2.0}, {"dry_run": 0}, {"receipt_id": None},
    {"controls_verified": ["a", 1]}, {"deny_code": 5}, {"signature": None}, {"receipt_hash": 1},
])
def test_malformed_receipts_are_named_as_such(change):
    r = {**chain(1)[0], **change}
    e = proof_error(verify_receipt, r, keys_of(K5))
    assert e.code == "malformed" and "malformed receipt" in str(e) and next(iter(change)) in str(e)
    e = proof_error(verify_chain, [chain(1)[0], r], keys_of(K5))
    assert (e.code, e.index) == ("malformed", 1)


@needs_crypto
def test_missing_fields_and_non_objects_are_malformed():
    r = chain(1)[0]
    del r["tenant_id"]
    assert "tenant_id is missing" in str(proof_error(verify_receipt, r, keys_of(K5)))
    assert proof_error(verify_chain, ["not a receipt"], keys_of(K5)).code == "malformed"


@needs_crypto
def test_keys_may_be_raw_base64_or_hex_and_a_bad_key_is_named():
    r = chain(1)[0]
    raw = keys_of(K5)[receipt_kid(K5)]
    for spelling in [raw, base64.b64encode(raw).decode(), raw.hex()]:
        assert verify_receipt(r, {receipt_kid(K5): spelling})
    e = proof_error(verify_receipt, r, {receipt_kid(K5): raw[:31]})
    assert e.code == "bad_key" and receipt_kid(K5) in str(e)


@needs_crypto
def test_published_keys_reads_the_key_listing():
    raw = keys_of(K5)[receipt_kid(K5)]
    listing = {"keys": [{"kid": receipt_kid(K5), "public_key": base64.b64encode(raw).decode(),
                         "status": "retired", "created_at": "2026-11-24T12:00:00Z"}]}
    assert published_keys(listing) == {receipt_kid(K5): raw}
    assert verify_chain(chain(3), published_keys(listing)) == 3
    with pytest.raises(ProofError):
        published_keys({"keys": [{"kid": "rk_x", "public_key": "short"}]})


@needs_crypto
def test_proof_errors_are_hall_errors():
    assert issubclass(ProofError, HallError)
