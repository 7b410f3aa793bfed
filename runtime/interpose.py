"""Everything durable-python puts in the interpreter around a script, and takes out afterwards.

``activate`` is the one place that installs the interpositions of a run (the resolver that every
rewritten call site calls, the output-once streams, the recording ``os.environ``, thread-pool task
paths, the import hook that rewrites the script's own modules, the script as ``__main__``, the
run's random seed, the signal ``durable-python cancel`` sends) and makes the run's context active; leaving it puts every one of them back, so a
replay can run inside another command's process and leave it as it was.
"""

from __future__ import annotations

import builtins
import os
import random
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from durable_python.integrations import numeric, threads

from . import context, environ, runner, streams, waiting
from .stores.base import CANCEL_SIGNAL


def _inline(f: object) -> object:
    return f


@contextmanager
def activate(run: context.RunContext, path: str, argv: list[str]) -> Iterator[ModuleType]:
    """Run ``path`` as ``__main__`` with ``argv`` under ``run``; yields the main module."""
    saved_argv, saved_path = list(sys.argv), list(sys.path)
    saved_main = sys.modules.get("__main__")
    saved_resolver = getattr(builtins, "__dp__", None)
    saved_random = random.getstate()
    saved_limit = sys.getrecursionlimit()
    saved_meta_path = list(sys.meta_path)
    main = runner.prepare_main(path, argv, executing=sys._getframe(2))  # the ``with`` statement's
    random.seed(run.run.random_seed)  # for libraries; the script draws from its own generator
    run.script_random.seed(run.run.random_seed)
    uninstall_numpy_seed = numeric.install(run.run.random_seed)
    saved_streams = streams.install()
    saved_environ = environ.install()
    run.decider.install()
    listens = run.live and threading.current_thread() is threading.main_thread()
    saved_signal = waiting.install_cancel_signal() if listens else None
    uninstall_threads = threads.install()
    context.set_active(run)
    try:
        yield main
    finally:
        context.set_active(None)
        if listens:
            signal.signal(CANCEL_SIGNAL, saved_signal)
        uninstall_threads()
        os.environ = saved_environ  # noqa: B003 - putting back the original mapping
        streams.uninstall(saved_streams)
        sys.meta_path[:] = saved_meta_path
        uninstall_numpy_seed()
        sys.setrecursionlimit(saved_limit)
        random.setstate(saved_random)
        # Script code may run after the run (its ``sys.excepthook`` reporting the uncaught
        # exception, ``atexit`` handlers, ``__del__``): nothing is recorded then, it runs inline.
        builtins.__dp__ = _inline if saved_resolver is None else saved_resolver
        sys.argv[:], sys.path[:] = saved_argv, saved_path
        if saved_main is not None:
            sys.modules["__main__"] = saved_main
