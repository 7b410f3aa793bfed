"""A stable fingerprint of a call's arguments, to tell on replay whether the call is the same one.

Plain data (numbers, strings, bytes, None and containers of them) is hashed by value; any other
object by its type's qualified name only, so an object whose state or repr differs between
processes (a client, a lock, something with an address in its repr) never causes a false alarm.
"""

from __future__ import annotations

import hashlib
from typing import Any

_SCALARS = (str, bytes, int, float, bool, type(None), complex)
_BLANK = hashlib.blake2b(digest_size=8)  # never updated: each digest starts from a copy


def _walk(value: Any, out: list[str], depth: int) -> None:
    kind = type(value)
    if kind in _SCALARS:
        out.append(f"{kind.__name__}:{value!r}")
    elif depth > 20:
        out.append("...")
    elif kind in (list, tuple):
        out.append(f"{kind.__name__}[")
        for item in value:
            _walk(item, out, depth + 1)
        out.append("]")
    elif kind is dict:
        out.append("dict{")
        for key, item in value.items():
            _walk(key, out, depth + 1)
            _walk(item, out, depth + 1)
        out.append("}")
    elif kind in (set, frozenset):
        parts: list[str] = []
        for item in value:
            one: list[str] = []
            _walk(item, one, depth + 1)
            parts.append("".join(one))
        out.append(f"{kind.__name__}{{{','.join(sorted(parts))}}}")
    else:
        out.append(f"<{kind.__module__}.{kind.__qualname__}>")


def fingerprint(args: tuple, kwargs: dict) -> str:
    """A short hex digest of the arguments (see the module docstring for what counts)."""
    text = None
    if not kwargs:
        if not args:
            return ""
        for arg in args:  # the common case, plain scalars: their repr is already canonical
            if type(arg) not in _SCALARS:
                break
        else:  # a 1-tuple's repr spelled out: tuple's repr costs four times as much
            text = f"({args[0]!r},)" if len(args) == 1 else repr(args)
    if text is None:
        out: list[str] = []
        _walk(args, out, 0)
        if kwargs:
            _walk(kwargs, out, 0)
        text = "\x1f".join(out)
    digest = _BLANK.copy()  # a third cheaper than a new blake2b with its keyword argument
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def describe(args: tuple, kwargs: dict, limit: int = 120) -> str:
    """A short human-readable rendering of arguments, for error messages."""
    parts = [_short(a) for a in args] + [f"{k}={_short(v)}" for k, v in kwargs.items()]
    text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real error
        text = f"<{type(value).__qualname__}>"
    return text if len(text) <= 60 else text[:57] + "..."
