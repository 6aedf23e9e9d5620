"""The canonical package hash of a worker package directory.

This is the ``sha256`` a capability card names and the registry compares with
the worker's attested hash, so it must equal ``hallctl hash <dir>``
(``crates/attestation/src/package.rs`` for the algorithm,
``package_files`` in ``crates/cli/src/main.rs`` for the walk) byte for byte:

SHA-256 (lowercase hex) over one record per file,
``<relative_posix_path>\\n<size_bytes>\\n<sha256_hex_of_content>\\n`` (UTF-8),
ordered component by component (``pathlib`` order: ``code/x.py`` before
``code.txt``).  Skipped: any path with a component named ``.git``,
``__pycache__``, ``.DS_Store``, ``manifest.json``, ``manifest.sig`` or
``manifest.tmp``, and any path ending in ``.pyc``.

The walk: regular files are read; a symbolic link is read when it resolves to
a file; directories are entered only when they are real directories (a link to
a directory is skipped, so a package cannot pull in a tree outside itself);
everything else (sockets, FIFOs, dangling links) is ignored.  File names must
be valid UTF-8, because the path bytes are part of the hash.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

__all__ = ["EXCLUDED_NAMES", "is_hashed", "package_hash"]

#: Names that exclude a path wherever they appear in it.
EXCLUDED_NAMES: frozenset[str] = frozenset(
    {".git", "__pycache__", ".DS_Store", "manifest.json", "manifest.sig", "manifest.tmp"}
)

_CHUNK = 1 << 20


def is_hashed(relative_path: str) -> bool:
    """Whether a relative POSIX path takes part in the hash."""
    return not relative_path.endswith(".pyc") and not any(
        part in EXCLUDED_NAMES for part in relative_path.split("/")
    )


def package_hash(directory: str | os.PathLike[str]) -> str:
    """The canonical package hash of ``directory`` (64 lowercase hex characters).

    Raises ``NotADirectoryError`` when ``directory`` is not a directory (a link
    to one is fine), ``ValueError`` naming the first file whose name is not
    UTF-8, and ``OSError`` when a hashed file cannot be read.  Excluded files
    (``.git`` objects, byte code) are never opened, since their content cannot
    change the result.
    """
    root = os.fspath(directory)
    if not os.path.isdir(root):
        raise NotADirectoryError(f"{root} is not a directory")
    records: list[tuple[list[str], str, int, str]] = []
    for relative, path in _files(root, ()):
        if not is_hashed(relative):
            continue
        size, digest = _hash_file(path)
        records.append((relative.split("/"), relative, size, digest))
    # Lists of str compare component by component in code-point order: the
    # order of PurePosixPath and of the registry's compare_paths.
    records.sort(key=lambda r: r[0])
    outer = hashlib.sha256()
    for _, relative, size, digest in records:
        outer.update(f"{relative}\n{size}\n{digest}\n".encode())
    return outer.hexdigest()


def _files(directory: str, parents: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """Yields ``(relative POSIX path, filesystem path)`` for every file to read."""
    with os.scandir(directory) as entries:
        for entry in entries:
            names = (*parents, entry.name)
            # follow_symlinks=False: a link to a directory is not a directory here.
            if entry.is_dir(follow_symlinks=False):
                yield from _files(entry.path, names)
            elif entry.is_file(follow_symlinks=False) or (
                entry.is_symlink() and os.path.isfile(entry.path)
            ):
                yield _relative(names, entry.path), entry.path


def _relative(names: tuple[str, ...], path: str) -> str:
    relative = "/".join(names)
    try:
        # os.scandir decodes undecodable bytes as lone surrogates
        # (surrogateescape); a strict encode finds them.
        relative.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{path!r} is not a UTF-8 file name") from None
    return relative


def _hash_file(path: str) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
