"""Short renderings of a recorded call's arguments, kept beside its fingerprint, for diffs.

A journal entry's ``fingerprint`` column holds ``HASH`` (entries recorded before this existed) or
``HASH|RENDERINGS``: the hash decides whether a replayed call is the same call (see
``fingerprint.py``), and the renderings, one per argument separated by ``\x1f`` (which no
rendering contains: ``repr`` escapes control characters), let a divergence show which argument
changed and how (``durable-python replay``, ``NondeterminismError``). Renderings follow the
fingerprint's view of a value: plain data by value (cut short), any other object by its type, so
two renderings differ only where the fingerprints can. Recording them costs a few microseconds
per recorded call with arguments; calls without arguments cost nothing.
"""

from __future__ import annotations

import itertools
from typing import Any

_MAX_ARGS = 8
_MAX_TOTAL = 400
_MAX_TEXT = 60
_MAX_ITEMS = 6
_SEPARATOR = "\x1f"
_NUMBERS = (int, float, bool, type(None), complex)


def render(value: Any, depth: int = 0) -> str:
    """A short rendering of ``value`` as the fingerprint sees it (see the module docstring)."""
    kind = type(value)
    if kind is str or kind is bytes:
        if len(value) <= _MAX_TEXT:
            return repr(value)
        half = _MAX_TEXT // 2
        return f"{repr(value[:half])[:-1]}...{repr(value[-half:])[2 if kind is bytes else 1 :]}"
    if kind in _NUMBERS:
        if kind is int and value.bit_length() > 128:
            return f"<int of {value.bit_length()} bits>"
        text = repr(value)
        return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."
    if kind is list or kind is tuple or kind is dict or kind is set or kind is frozenset:
        if depth >= 3:
            return f"{kind.__name__}(...)"
        if kind is dict:
            shown = [
                f"{render(k, depth + 1)}: {render(v, depth + 1)}"
                for k, v in list(value.items())[:_MAX_ITEMS]
            ]
        elif kind is list or kind is tuple:
            shown = [render(x, depth + 1) for x in value[:_MAX_ITEMS]]
        elif len(value) <= 64:  # sets: sorted, as the fingerprint takes them in any order
            shown = sorted(render(x, depth + 1) for x in value)[:_MAX_ITEMS]
        else:
            shown = [render(x, depth + 1) for x in itertools.islice(value, _MAX_ITEMS)]
        if len(value) > _MAX_ITEMS:
            shown.append("...")
        inner = ", ".join(shown)
        if kind is list:
            return f"[{inner}]"
        if kind is tuple:
            return f"({inner}{',' if len(value) == 1 else ''})"
        if kind is dict:
            return f"{{{inner}}}"
        return f"{kind.__name__}({{{inner}}})"
    return f"<{kind.__module__}.{kind.__qualname__}>"


def _safely(value: Any) -> str:
    try:
        return render(value)
    except Exception:  # noqa: BLE001 - recording must not fail for the sake of a diff
        return f"<{type(value).__qualname__}>"


def parts(args: tuple, kwargs: dict) -> list[str]:
    """One short rendering per argument (``name=value`` for keywords), at most a few."""
    shown = [_safely(a) for a in args[:_MAX_ARGS]]
    room = _MAX_ARGS - len(shown)
    shown += [f"{k}={_safely(v)}" for k, v in list(kwargs.items())[:room]]
    if len(args) + len(kwargs) > _MAX_ARGS:
        shown.append("...")
    return shown


def with_renderings(fp: str, args: tuple, kwargs: dict) -> str:
    """The fingerprint column for a new entry: ``fp``, plus the renderings when there are args."""
    if not fp:
        return fp
    if not kwargs and len(args) == 1:  # the common case, without the general machinery
        only = args[0]
        if type(only) is str and len(only) <= _MAX_TEXT:
            return f"{fp}|{only!r}"
    text = _SEPARATOR.join(parts(args, kwargs))
    if len(text) > _MAX_TOTAL:
        text = text[: _MAX_TOTAL - 3] + "..."
    return f"{fp}|{text}"


def same(recorded: str, fp: str) -> bool:
    """Whether a recorded fingerprint column matches the fingerprint ``fp`` of a call now."""
    return recorded == fp or recorded.partition("|")[0] == fp


def recorded_parts(recorded: str) -> list[str] | None:
    """The renderings stored in a fingerprint column, ``None`` for entries that have none."""
    _, bar, text = recorded.partition("|")
    if not bar:
        return None
    return text.split(_SEPARATOR) if text else []  # a call without arguments has none


def recorded_call(name: str, recorded: str) -> str:
    """``name(renderings)`` for a recorded entry, or ``name(...)`` when it has no renderings."""
    found = recorded_parts(recorded)
    if found is None:
        return f"{name}({'...' if recorded else ''})"
    return f"{name}({', '.join(found)})"


def diff(recorded: str, args: tuple, kwargs: dict) -> list[str]:
    """Lines saying which arguments differ between a recorded call and the call made now."""
    before = recorded_parts(recorded)
    if before is None:
        return ["arguments: the journal keeps only a hash of the recorded ones (an older entry)"]
    now = parts(args, kwargs)
    lines = []
    for index in range(max(len(before), len(now))):
        old = before[index] if index < len(before) else "(none)"
        new = now[index] if index < len(now) else "(none)"
        if old != new:
            lines.append(f"argument {index + 1}: recorded {old}, now {new}")
    if not lines:
        lines.append("arguments: they differ beyond what the short renderings show")
    return lines
