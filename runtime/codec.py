"""Saving results and exceptions in the journal, and giving them back on replay.

``pickle`` first (fast, and classes of the script are found again by name), ``cloudpickle`` for
what pickle cannot do (lambdas, closures). A result neither can save becomes a stub on replay
(DESIGN 2.6); an exception neither can save is rebuilt as faithfully as possible (DESIGN 2.7).
"""

from __future__ import annotations

import functools
import importlib
import io
import os
import pickle
import sys
from typing import Any

from durable_python.integrations import knowledge

from .errors import UnsavedResultError
from .model import Outcome

PROTOCOL = pickle.HIGHEST_PROTOCOL
_OK, _UNSAVED = Outcome.OK.value, Outcome.UNSAVED.value  # plain strings, as stored
_ERROR, _REBUILT = Outcome.ERROR.value, Outcome.REBUILT.value


def dumps(value: Any) -> bytes:
    """Pickle ``value``; raises ``pickle.PicklingError``-like errors when it cannot be saved."""
    try:
        return pickle.dumps(value, PROTOCOL)
    except Exception:  # noqa: BLE001 - pickle raises many kinds; cloudpickle gets a chance
        return _dumps_with_cloudpickle(value)


def _dumps_with_cloudpickle(value: Any) -> bytes:
    buffer = io.BytesIO()
    _copying_pickler()(buffer, PROTOCOL).dump(value)
    return buffer.getvalue()


@functools.cache
def _copying_pickler() -> type:
    """cloudpickle's Pickler, which also saves a read-only view (``knowledge.SAVED_AS_COPIES``:
    aiohttp's headers in an SDK's response) as the view of a copy. Made on first use: importing
    cloudpickle costs start-up time most runs never need."""
    import cloudpickle

    class CopyingPickler(cloudpickle.Pickler):
        def reducer_override(self, obj: Any) -> Any:
            kind = type(obj)
            if f"{kind.__module__}.{kind.__qualname__}" in knowledge.SAVED_AS_COPIES:
                return kind, (obj.copy(),)
            return super().reducer_override(obj)

    return CopyingPickler


loads = pickle.loads


def encode_result(value: Any) -> tuple[str, bytes]:
    """``(outcome, payload)`` of a result: ``ok`` and its pickle, or ``unsaved`` and why."""
    try:
        return _OK, dumps(value)
    except Exception as exc:  # noqa: BLE001 - any failure to save means "unsaved"
        description = (f"{type(value).__module__}.{type(value).__qualname__}", str(exc)[:300])
        return _UNSAVED, pickle.dumps(description, PROTOCOL)


def encode_exception(exc: BaseException) -> tuple[str, bytes]:
    """``(outcome, payload)`` of an exception: ``error`` and its pickle, or ``rebuilt`` and
    what rebuilds it."""
    try:
        data = dumps(exc)
        loads(data)  # an exception whose __init__ takes other arguments than its args fails here
        return _ERROR, data
    except Exception:  # noqa: BLE001 - fall back to a faithful rebuild
        pass
    kind = type(exc)
    state = {
        "module": kind.__module__,
        "qualname": kind.__qualname__,
        "args": _saveable(exc.args) or tuple(repr(a) for a in exc.args),
        "dict": {k: v for k, v in vars(exc).items() if _saveable(v) is not None},
        "message": str(exc),
    }
    return _REBUILT, pickle.dumps(state, PROTOCOL)


def _saveable(value: Any) -> Any:
    try:
        dumps(value)
        return value
    except Exception:  # noqa: BLE001
        return None


class RecordedError(Exception):
    """Stands in for a recorded exception whose class cannot be imported on replay."""


def rebuild_exception(state: dict) -> BaseException:
    try:
        kind: Any = importlib.import_module(state["module"])
        for part in state["qualname"].split("."):
            kind = getattr(kind, part)
        exc = kind.__new__(kind)
        exc.args = tuple(state["args"])
        for key, value in state["dict"].items():
            setattr(exc, key, value)
        return exc
    except Exception:  # noqa: BLE001 - the class is gone or refuses: keep the message
        return RecordedError(f"{state['module']}.{state['qualname']}: {state['message']}")


def _what_to_do(name: str) -> str:
    """The advice for a stub of ``name``'s result: a session or transaction of a client that is
    never constructed again (``knowledge.NOT_CONSTRUCTED_AGAIN``) belongs in an activity whole."""
    if any(name == m or name.startswith(f"{m}.") for m in knowledge.NOT_CONSTRUCTED_AGAIN):
        return (
            "Move the code that opens it and uses it (the whole transaction or session) into one"
            " function marked @durable_python.activity: a connection opened again on replay would"
            " not hold what the journal replayed, so it is not declared a resource."
        )
    return (
        "Move the code that creates and uses it into one function marked"
        " @durable_python.activity, or declare the callable a resource in"
        " [tool.durable-python] if it is safe to call again."
    )


class Unsaved:
    """What replay returns for a result that could not be saved: any use raises a clear error."""

    __slots__ = ("_what",)

    def __init__(self, name: str, site: str, type_name: str, reason: str) -> None:
        object.__setattr__(self, "_what", (name, site, type_name, reason))

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        name, site, type_name, reason = object.__getattribute__(self, "_what")
        frame = sys._getframe(1)
        while frame.f_back is not None and frame.f_code.co_filename == __file__:
            frame = frame.f_back
        used_at = f"{os.path.relpath(frame.f_code.co_filename)}:{frame.f_lineno}"
        raise UnsavedResultError(
            f"{used_at}: this code uses the result of {name}() recorded at {site}, a {type_name}"
            f" that could not be saved ({reason}), so replay has no value to give back."
            f" {_what_to_do(name)}"
        )

    def __getattr__(self, name: str) -> Any:
        self._fail()

    __call__ = __iter__ = __next__ = __len__ = __getitem__ = __setitem__ = __setattr__ = _fail
    __enter__ = __exit__ = __aenter__ = __aexit__ = __await__ = __aiter__ = _fail
    __bool__ = __eq__ = __hash__ = __str__ = __int__ = __float__ = __contains__ = _fail

    def __repr__(self) -> str:
        name, site, type_name, _ = object.__getattribute__(self, "_what")
        return f"<unsaved {type_name} from {name}() at {site}>"
