"""Canonical JSON, byte for byte what the registry computes.

Receipt hashes, capability-card signatures and enrollment artifact hashes are
all defined over these bytes (``crates/wcp/src/canonical.rs``), so a client
that serialises even one character differently computes a different hash and
every proof fails.  The format is what Python's
``json.dumps(value, sort_keys=True, separators=(",", ":"))`` writes with its
default ``ensure_ascii=True``:

- object keys sorted by code point at every level (the registry sorts by UTF-8
  bytes, which is the same order), no whitespace;
- strings with ``"``, ``\\``, ``\\n``, ``\\r``, ``\\t``, ``\\b`` and ``\\f``
  escaped, every other character outside printable ASCII (``0x20``-``0x7e``,
  so DEL too) as a lowercase ``\\uXXXX`` escape, astral characters as UTF-16
  surrogate pairs;
- integers as decimal, floats as Python's ``repr`` (shortest round trip,
  ``1.0`` keeps its ``.0``, exponents as ``1e+16`` / ``1.5e-05``).

It is written out here rather than delegated to ``json.dumps`` so that values
the registry could never receive are refused instead of silently hashed: the
registry parses requests with ``serde_json``, which has no NaN or infinity,
cannot hold a string with a lone surrogate, only has string keys, and turns an
integer outside the 64-bit range into a float.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii
from typing import Any

__all__ = ["canonical_json"]

# serde_json keeps an integer exactly when it fits i64 or u64; anything wider is
# parsed as an f64, and that float is what the registry hashes.
_I64_MIN = -(2**63)
_U64_MAX = 2**64 - 1

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def canonical_json(value: Any) -> bytes:
    """The canonical serialisation of ``value`` as UTF-8 bytes (all ASCII).

    Accepts ``None``, ``bool``, ``int``, ``float``, ``str``, lists and tuples,
    and mappings with ``str`` keys, nested to any depth.  Raises ``TypeError``
    for anything else (including non-string keys, which ``json.dumps`` would
    coerce, so two different dicts could hash alike) and ``ValueError`` for
    values no JSON request to the registry can carry (NaN, infinities, lone
    surrogates, integers too large for a float).
    """
    parts: list[str] = []
    _write(parts, value)
    return "".join(parts).encode("ascii")


def _write(out: list[str], value: Any) -> None:
    # bool before int: True is an int in Python but a JSON literal on the wire.
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        out.append(_integer(value))
    elif isinstance(value, float):
        out.append(_float(value))
    elif isinstance(value, Mapping):
        _object(out, value)
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(out, item)
        out.append("]")
    else:
        raise TypeError(
            f"canonical JSON cannot hold a {type(value).__name__}: {value!r}"
        )


def _object(out: list[str], mapping: Mapping[Any, Any]) -> None:
    for key in mapping:
        if not isinstance(key, str):
            raise TypeError(f"canonical JSON object keys must be str, not {type(key).__name__}: {key!r}")
    out.append("{")
    # Code-point order of str equals the UTF-8 byte order the registry sorts by
    # (lone surrogates, the one exception, are refused by _string).
    for i, key in enumerate(sorted(mapping)):
        if i:
            out.append(",")
        out.append(_string(key))
        out.append(":")
        _write(out, mapping[key])
    out.append("}")


def _string(s: str) -> str:
    match = _LONE_SURROGATE.search(s)
    if match:
        raise ValueError(
            f"string holds a lone surrogate U+{ord(match.group()):04X} at index "
            f"{match.start()}; it has no UTF-8 form, so the registry can never see it"
        )
    # The standard library's ASCII escaper writes exactly the escapes the
    # registry writes (short forms for " \\ \n \r \t \b \f, lowercase \uXXXX
    # for the rest of 0x00-0x1f, 0x7f and beyond, surrogate pairs above the
    # BMP); the tests pin this against the registry's own vectors.
    result: str = encode_basestring_ascii(s)
    return result


def _integer(n: int) -> str:
    if _I64_MIN <= n <= _U64_MAX:
        return str(int(n))  # int(): an IntEnum's str() would be its name
    try:
        as_float = float(n)
    except OverflowError:
        raise ValueError(f"integer {n} is out of range for JSON numbers the registry accepts") from None
    return _float(as_float)


def _float(f: float) -> str:
    if not math.isfinite(f):
        raise ValueError(f"{f!r} is not a JSON number; the registry cannot receive it")
    # float.__repr__ is the shortest round-trip form, which the registry copies.
    return repr(float(f))
