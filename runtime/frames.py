"""durable-python's own wrapper frames, hidden from ``warnings`` and ``logging`` stack levels.

A recorded call runs the callable a few frames below the script's call site (the recording wrapper,
``perform``, a lambda). A library that warns with ``stacklevel=2`` ("deprecated, called from here")
or logs with ``stacklevel=2`` would point at those frames instead of the script's line. Both
``warnings`` and ``logging`` skip frames of the import machinery (a code filename containing
``importlib`` and ``_bootstrap``) when they count stack levels, so the wrappers' code objects are
given such a filename. It keeps the real path as its prefix, so tracebacks still recognise the
frames as durable-python's own and take them out (``without_own_frames``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import CodeType, FrameType, TracebackType
from typing import Any

import durable_python.integrations
import durable_python.transpiler

MARK = " (hidden from stacklevel, like importlib._bootstrap)"
_OWN_DIRS = tuple(
    os.path.join(os.path.dirname(os.path.realpath(p)), "")
    for p in (__file__, durable_python.transpiler.__file__, durable_python.integrations.__file__)
)


def _hidden(code: CodeType) -> CodeType:
    consts = tuple(_hidden(c) if isinstance(c, CodeType) else c for c in code.co_consts)
    filename = code.co_filename if code.co_filename.endswith(MARK) else code.co_filename + MARK
    return code.replace(co_filename=filename, co_consts=consts)


def hide(*functions: Callable[..., Any]) -> None:
    """Hide ``functions`` (and the functions and lambdas defined inside them) from stack levels."""
    for function in functions:
        function.__code__ = _hidden(function.__code__)


def outside(frame: Any) -> Any:
    """``frame`` or the nearest caller of it that is not a hidden durable-python frame."""
    while frame.f_back is not None and frame.f_code.co_filename.endswith(MARK):
        frame = frame.f_back
    return frame


def site_of(frame: FrameType) -> str:
    """``file:line`` of where ``frame`` is now (a call site in the script)."""
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def short_site(site: str) -> str:
    """``file:line`` relative to the working directory when that is shorter."""
    path, _, line = site.rpartition(":")
    try:
        relative = os.path.relpath(path)
    except ValueError:
        relative = path
    return f"{relative if len(relative) < len(path) else path}:{line}"


def without_own_frames(tb: TracebackType | None) -> TracebackType | None:
    """Drop durable-python's frames from a traceback so it reads like plain Python's: for the
    report of an uncaught exception, and (through the resolver) for the exception a recorded call
    raises, so code that walks ``exc.__traceback__`` sees python's frames."""
    head = tb
    while head is not None and _is_own(head):
        head = head.tb_next
    node = head
    while node is not None:
        following = node.tb_next
        while following is not None and _is_own(following):
            following = following.tb_next
        node.tb_next = following
        node = following
    return head


def drop_own_frames(exc: BaseException) -> None:
    """Take durable-python's frames out of the traceback of ``exc``, which an ``except`` block
    then raises again with a bare ``raise`` (that adds no entry): for an exception that does not
    leave through the resolver's C wrapper, as an awaited effect's is raised at the ``await``."""
    exc.__traceback__ = without_own_frames(exc.__traceback__)


def _is_own(tb: TracebackType) -> bool:
    return tb.tb_frame.f_code.co_filename.startswith(_OWN_DIRS)
