"""hall_registry.tlog against the published vectors of RFC 6962's reference
implementation and Go's signed-note package, and every proof of small trees
made by the RFC's own definitions (PATH and PROOF, §2.1.1–2.1.2)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from hall_registry.errors import ProofError
from hall_registry.tlog import (
    Checkpoint,
    NoteVerifier,
    leaf_hash,
    open_note,
    tree_head,
    verify_consistency,
    open_checkpoint,
    verify_inclusion,
)

LEAVES = [leaf_hash(x) for x in (b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
                                 bytes(range(0x50, 0x58)), bytes(range(0x60, 0x70)))]
ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]


def hexes(s: str) -> list[bytes]:
    return [bytes.fromhex(h) for h in s.split()]


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def path(m: int, d: list[bytes]) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(m, D[n])."""
    if len(d) == 1:
        return []
    k = _k(len(d))
    return path(m, d[:k]) + [tree_head(d[k:])] if m < k else path(m - k, d[k:]) + [tree_head(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """RFC 6962 §2.1.2 SUBPROOF(m, D[n], b)."""
    if m == len(d):
        return [] if b else [tree_head(d)]
    k = _k(len(d))
    if m <= k:
        return subproof(m, d[:k], b) + [tree_head(d[k:])]
    return subproof(m - k, d[k:], False) + [tree_head(d[:k])]


def test_tree_heads_are_the_published_vectors():
    for n, root in enumerate(ROOTS, start=1):
        assert tree_head(LEAVES[:n]) == root


def test_the_published_inclusion_and_consistency_proofs_verify():
    verify_inclusion(LEAVES[0], 0, 8, hexes(
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7 "
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e "
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"), ROOTS[7])
    verify_inclusion(LEAVES[5], 5, 8, hexes(
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b "
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0 "
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"), ROOTS[7])
    verify_consistency(6, 8, ROOTS[5], ROOTS[7], hexes(
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a "
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0 "
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"))
    verify_consistency(2, 5, ROOTS[1], ROOTS[4], hexes(
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e "
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"))
    verify_consistency(3, 3, ROOTS[2], ROOTS[2], [])


def test_every_proof_of_small_trees_verifies_and_changed_ones_do_not():
    for n in range(1, 20):
        d = [leaf_hash(i.to_bytes(8, "big")) for i in range(n)]
        head = tree_head(d)
        for m in range(n):
            proof = path(m, d)
            verify_inclusion(d[m], m, n, proof, head)
            with pytest.raises(ProofError):
                verify_inclusion(leaf_hash(b"other"), m, n, proof, head)
            if proof:
                with pytest.raises(ProofError):
                    verify_inclusion(d[m], m, n, proof[:-1], head)
        for m in range(1, n + 1):
            proof = subproof(m, d, True)
            verify_consistency(m, n, tree_head(d[:m]), head, proof)
            with pytest.raises(ProofError):
                verify_consistency(m, n, leaf_hash(b"rewritten"), head, proof)


def test_impossible_sizes_are_refused():
    for bad in (lambda: verify_inclusion(LEAVES[0], 8, 8, [], ROOTS[7]),
                lambda: verify_consistency(0, 8, ROOTS[0], ROOTS[7], []),
                lambda: verify_consistency(9, 8, ROOTS[0], ROOTS[7], [ROOTS[0]]),
                lambda: verify_consistency(2, 8, ROOTS[1], ROOTS[7], [])):
        with pytest.raises(ProofError):
            bad()


VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
NOTE = ("If you think cryptography is the answer to your problem,\n"
        "then you don't know what your problem is.\n\n"
        "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")


def test_gos_example_note_opens_and_a_changed_one_does_not():
    pytest.importorskip("cryptography")
    known = [NoteVerifier.parse(VKEY)]
    opened = open_note(NOTE, known)
    assert opened.signed_by == ["PeterNeumann"]
    assert opened.text.startswith("If you think")
    with pytest.raises(ProofError) as e:
        open_note(NOTE.replace("cryptography is", "blockchain is"), known)
    assert e.value.code == "bad_signature"
    with pytest.raises(ProofError) as e:
        open_note(NOTE, [])
    assert e.value.code == "no_known_signature"
    with pytest.raises(ProofError):
        NoteVerifier.parse(VKEY.replace("c74f20a3", "00000000"))


def test_a_checkpoint_is_read_and_malformed_ones_refused():
    root = base64.b64encode(ROOTS[7]).decode()
    c = Checkpoint.parse(f"registry.example.com/hall/org.acme\n8\n{root}\n")
    assert (c.origin, c.size, c.root, c.extensions) == ("registry.example.com/hall/org.acme", 8, ROOTS[7], ())
    for bad in (f"o\n08\n{root}\n", f"o\n-1\n{root}\n", "o\n8\nXV1d\n", f"\n8\n{root}\n", f"o\n8\n{root}"):
        with pytest.raises(ProofError):
            Checkpoint.parse(bad)


def test_notes_may_hold_empty_lines_but_not_control_characters_or_endless_signatures():
    pytest.importorskip("cryptography")
    known = [NoteVerifier.parse(VKEY)]
    sig_line = NOTE.rsplit("\n\n", 1)[1]
    with pytest.raises(ProofError) as e:
        open_note("first\n\nsecond\n\n" + sig_line, known)
    assert e.value.code == "bad_signature", "read, then refused for its signature only"
    with pytest.raises(ProofError) as e:
        open_note(NOTE.replace("=\n", "=\r\n"), known)
    assert e.value.code == "malformed_note"
    with pytest.raises(ProofError):
        open_note(NOTE + sig_line * 100, known)
    assert open_note(NOTE + sig_line, known).signed_by == ["PeterNeumann"]


def test_a_checkpoint_of_another_log_or_with_odd_lines_is_refused():
    root = base64.b64encode(ROOTS[7]).decode()
    for bad in (f"o\n{'9' * 5000}\n{root}\n", f"o\n18446744073709551616\n{root}\n",
                f"o\n8\n{root}\n\next\n", f"o\n8\n{root[:-1]}A\n"):
        with pytest.raises(ProofError):
            Checkpoint.parse(bad)
    with pytest.raises(ProofError):
        verify_inclusion(b"short", 0, 1, [], ROOTS[0])
    pytest.importorskip("cryptography")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    name = "registry.example.com"
    kh = hashlib.sha256(name.encode() + b"\n\x01" + pub).digest()[:4]
    encoded_key = base64.b64encode(b"\x01" + pub).decode()
    vkey = f"{name}+{kh.hex()}+{encoded_key}"
    text = f"registry.example.com/hall/org.acme\n8\n{root}\n"
    note = text + "\n\u2014 " + name + " " + base64.b64encode(kh + key.sign(text.encode())).decode() + "\n"
    known = [NoteVerifier.parse(vkey)]
    assert open_checkpoint(note, "registry.example.com/hall/org.acme", known).size == 8
    with pytest.raises(ProofError) as e:
        open_checkpoint(note, "registry.example.com/hall/org.other", known)
    assert e.value.code == "wrong_origin"


def test_a_verifier_made_from_a_name_and_key_is_the_one_its_vkey_spells():
    from hall_registry.tlog import verifier

    known = NoteVerifier.parse(VKEY)
    made = verifier("PeterNeumann", known.public_key)
    assert made == known
    with pytest.raises(ProofError):
        verifier("Peter Neumann", known.public_key)
    with pytest.raises(ProofError):
        verifier("PeterNeumann", known.public_key[:31])


# The same key, checkpoint and time as the registry's own test of its
# cosignature code (crates/audit/src/cosignature.rs): both give this line.
COSIGNED_TEXT = (
    "registry.example.com/hall/org.acme\n20852163\n"
    "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n"
)
WITNESS_VKEY = "witness.example.com/w1+4bdc7eaa+BP0XJDhaoMdbZPt4zWAvodmR/ev3axPFjtcC6sg16fYY"
COSIGNATURE = (
    "\u2014 witness.example.com/w1 S9x+qgAAAABkGFDL+x7idYR1I/nX7vDFJ/ag0gsOPILRI6Bsv7u3lV"
    "yLNLjHXr8omLEeL0t53/5qlasEwUwXzI87vOK1kIeMrUogAw=="
)


def _witness_key():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(bytes([9] * 32))


def test_a_cosignature_is_the_spec_layout_and_the_registrys_line():
    from hall_registry.tlog import WitnessKey, cosign, cosignatures

    key = _witness_key()
    witness = WitnessKey.of("witness.example.com/w1", key.public_key().public_bytes_raw())
    assert witness.vkey() == WITNESS_VKEY
    assert WitnessKey.parse(WITNESS_VKEY) == witness
    line = cosign(COSIGNED_TEXT, "witness.example.com/w1", key, 1679315147)
    assert line == COSIGNATURE
    note = COSIGNED_TEXT + "\n\u2014 log AAAAAA==\n" + line + "\n"
    [found] = cosignatures(note, [witness])
    assert found.timestamp == 1679315147


def test_a_cosignature_of_another_checkpoint_is_refused_and_strangers_are_ignored():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from hall_registry.tlog import WitnessKey, cosign, cosignatures, require_cosignatures

    witness = WitnessKey.parse(WITNESS_VKEY)
    other = COSIGNED_TEXT.replace("20852163", "20852164")
    with pytest.raises(ProofError) as e:
        cosignatures(other + "\n" + COSIGNATURE + "\n", [witness])
    assert e.value.code == "bad_signature"
    stranger = Ed25519PrivateKey.from_private_bytes(bytes([10] * 32))
    line = cosign(COSIGNED_TEXT, "witness.example.com/w2", stranger, 1)
    assert cosignatures(COSIGNED_TEXT + "\n" + line + "\n", [witness]) == []
    with pytest.raises(ProofError) as e:
        require_cosignatures(COSIGNED_TEXT + "\n" + line + "\n", [witness])
    assert e.value.code == "not_witnessed"
    # A log's (type 0x01) key is not a witness key.
    with pytest.raises(ProofError):
        WitnessKey.parse(VKEY)
