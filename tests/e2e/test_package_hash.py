"""`hallctl hash` against an independent Python implementation of the
canonical package hash described in the registry API contract."""

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

EXCLUDED = {".git", "__pycache__", ".DS_Store", "manifest.json", "manifest.sig", "manifest.tmp"}


def reference_hash(root: Path) -> str:
    """SHA-256 over `<path>\\n<size>\\n<sha256(content)>\\n` per file, in
    pathlib order, skipping excluded names anywhere in the path and *.pyc."""
    out = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_dir():
            continue
        rel = path.relative_to(root)
        if EXCLUDED.intersection(rel.parts) or rel.as_posix().endswith(".pyc"):
            continue
        data = path.read_bytes()
        out.update(f"{rel.as_posix()}\n{len(data)}\n{hashlib.sha256(data).hexdigest()}\n".encode())
    return out.hexdigest()


def hallctl_hash(root: Path) -> str:
    exe = os.environ["HALLCTL_BIN"]
    done = subprocess.run([exe, "hash", str(root)], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def write(root: Path, rel: str, data: bytes = b"") -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)


TREES = {
    "empty": {},
    "one file": {"worker.py": b"print('hi')\n"},
    "nested folders": {"code/a/b/c.py": b"x = 1\n", "code/a/d.txt": b"d", "top.txt": b"t"},
    "prefix siblings": {"code/x.py": b"1", "code.txt": b"2", "code-b/y": b"3", "code.d/z": b"4"},
    "non-ascii names": {"données/é.txt": "ünïcödé".encode(), "日本/ファイル.md": b"#", "z\u00e9": b""},
    "empty files": {"a": b"", "b/c": b"", "d/e/f": b""},
    "excluded names": {
        "code/main.py": b"main",
        "manifest.json": b"{}", "manifest.sig": b"sig", "manifest.tmp": b"tmp",
        ".DS_Store": b"x", "code/.DS_Store": b"x",
        ".git/HEAD": b"ref", "vendor/.git/config": b"c",
        "__pycache__/m.cpython-311.pyc": b"\x00", "code/__pycache__/notes.txt": b"n",
        "code/main.pyc": b"\x00", "deep/er/manifest.json": b"{}",
        "manifest.jsonx": b"kept", "git/HEAD": b"kept", ".hidden": b"kept",
    },
}


@pytest.mark.parametrize("name", sorted(TREES))
def test_hallctl_hash_matches_the_reference(tmp_path, name):
    root = tmp_path / "pkg"
    root.mkdir()
    for rel, data in TREES[name].items():
        write(root, rel, data)
    assert hallctl_hash(root) == reference_hash(root)


def test_excluded_files_do_not_change_the_hash(tmp_path):
    root = tmp_path / "pkg"
    write(root, "code/main.py", b"main")
    before = hallctl_hash(root)
    for rel in ["manifest.json", ".git/HEAD", "__pycache__/x.pyc", "a.pyc", "x/.DS_Store", "manifest.sig"]:
        write(root, rel, b"noise")
    assert hallctl_hash(root) == before
    write(root, "code/main.py", b"main!")
    assert hallctl_hash(root) != before
