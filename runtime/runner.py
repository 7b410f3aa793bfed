"""Execute a script's rewritten code as ``__main__``, exactly as ``python script.py`` would.

Sets ``sys.argv``, ``sys.path[0]``, ``__file__`` and ``__name__``; reports uncaught exceptions
through ``sys.excepthook`` with durable-python's own frames taken out of the traceback; turns
``SystemExit`` into the exit code Python would give.
"""

from __future__ import annotations

import builtins
import importlib.machinery
import os
import sys
from types import CodeType, FrameType, ModuleType

from durable_python.transpiler import importer, load_code

from . import resolver
from .frames import without_own_frames


def script_code(path: str) -> CodeType:
    """The rewritten code of the script at ``path`` (absolute); SyntaxError as Python raises it."""
    with open(path, "rb") as f:
        return load_code(f.read(), path)


def prepare_main(path: str, argv: list[str], executing: FrameType) -> ModuleType:
    """Set up interpreter state for running ``path`` as the main module, and return that module;
    ``executing`` is the frame that will ``exec`` the script's code."""
    builtins.__dp__ = resolver.resolve
    main = ModuleType("__main__")
    main.__file__ = path
    main.__cached__ = None
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
    main.__builtins__ = builtins
    main.__annotations__ = {}  # as ``python script.py`` has it
    sys.modules["__main__"] = main
    sys.argv[:] = argv
    script_dir = os.path.dirname(os.path.realpath(path))
    sys.path[0:1] = [script_dir]
    importer.install(script_dir)
    _make_room_for_own_frames(executing)
    return main


def _make_room_for_own_frames(executing: FrameType) -> None:
    """Raise the recursion limit by the frames durable-python itself has on the stack below the
    script's, so the script gets as deep as under plain Python (and a RecursionError reads the
    same). ``exec`` itself and the code it evaluates take one level each as well."""
    depth, frame = 2, executing
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    sys.setrecursionlimit(sys.getrecursionlimit() + depth)


def exit_code_of(exc: SystemExit) -> int:
    """The status Python exits with for ``SystemExit(code)``, printing a message code to stderr."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        print(code, file=sys.stderr)
    except Exception:  # noqa: BLE001 - Python ignores a failing print here too
        pass
    return 1


def report_uncaught(exc: BaseException) -> int:
    """Show ``exc`` the way the interpreter does for an uncaught exception; return the status."""
    tb = without_own_frames(exc.__traceback__)
    exc.__traceback__ = tb
    sys.excepthook(type(exc), exc, tb)
    return 130 if isinstance(exc, KeyboardInterrupt) else 1
