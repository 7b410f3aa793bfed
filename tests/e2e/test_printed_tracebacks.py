"""Tracebacks the script prints itself show python's frames, on the first run and on replay.

An exception from a recorded call (a library function, ``os.remove``, ``open``) reaches the
script with the traceback python gives it: no frame of durable-python's recording wrappers, so
``traceback.print_exc()``, ``logging.exception``, ``traceback.format_exception`` and any
``sys.excepthook`` print what ``python`` prints. The library lives in the sandbox's ``lib``
(not rewritten: its functions are effects). On replay the recorded exception is raised again at
the script's call site: the script's frames are the same, the library's cannot be there.
"""

from __future__ import annotations

import importlib.util
import re

import pytest

from durable_python.testing import Sandbox

pytestmark = pytest.mark.e2e
# The pure-Python resolver leaves the wrappers' frames in a caught exception's traceback.
needs_c_resolver = pytest.mark.skipif(
    importlib.util.find_spec("durable_python._resolver") is None,
    reason="durable_python._resolver is not built (see resolver.py)",
)

LIBRARY = """
    class ShippingError(Exception):
        pass


    def send(n):
        return _lose(n)


    def _lose(n):
        raise ShippingError(f"parcel {n} lost")


    async def send_later(n):
        return _lose(n)


    def track(n):
        try:
            return {}[n]
        except KeyError as exc:
            raise ShippingError(f"no parcel {n}") from exc


    def each(items, check):
        return [check(item) for item in items]


    def confirm(n):
        return n
"""

# How the script prints a caught exception ``exc`` (inside its ``except`` block).
WAYS = {
    "print_exc": "traceback.print_exc()",
    "logging_exception": 'logging.exception("shipping failed")',
    "format_exception": 'print("".join(traceback.format_exception(exc)), end="")',
    "default_excepthook": "sys.excepthook(type(exc), exc, exc.__traceback__)",
    "custom_excepthook": "sys.excepthook = walk; sys.excepthook(*sys.exc_info())",
}

SCRIPT = """
    import asyncio
    import logging
    import os
    import sys
    import traceback

    import shipping


    def walk(kind, value, tb):
        frames = [(f.name, f.lineno) for f in traceback.extract_tb(tb)]
        print("hook:", kind.__name__, value, frames, file=sys.stderr)


    def order(n):
        return shipping.send(n)


    def checkout():
        return order(3)


    async def checkout_later():
        return await shipping.send_later(6)


    def refuse(item):
        raise ValueError(f"refused {{item}}")


    attempts = [
        checkout,
        lambda: shipping.track(4),
        lambda: shipping.each([1, 2], refuse),
        lambda: os.remove("missing.txt"),
        lambda: open("missing.txt"),
        lambda: asyncio.run(checkout_later()),
    ]
    for attempt in attempts:
        try:
            attempt()
        except Exception as exc:
            {way}
    print("done")
"""


@pytest.fixture
def sandbox(tmp_path, durable_python) -> Sandbox:
    box = Sandbox(tmp_path)
    box.write_lib("shipping.py", LIBRARY)
    return box


@needs_c_resolver
@pytest.mark.parametrize("way", WAYS)
def test_caught_traceback_is_printed_like_python(sandbox, way):
    sandbox.write("job.py", SCRIPT.format(way=WAYS[way]))
    plain = sandbox.python("job.py")
    durable = sandbox.run("job.py")
    assert plain.returncode == 0 and "missing.txt" in plain.stdout + plain.stderr, plain
    assert (durable.stdout, durable.stderr, durable.returncode) == (
        plain.stdout,
        plain.stderr,
        plain.returncode,
    )
    recorded = {entry["name"] for entry in sandbox.journal_of("job.py")}
    assert {"shipping.send", "shipping.send_later", "shipping.each", "posix.remove"} <= recorded


def test_uncaught_exception_goes_to_the_scripts_own_excepthook_like_python(sandbox):
    sandbox.write(
        "job.py",
        """
        import sys
        import traceback

        import shipping


        def walk(kind, value, tb):
            names = [frame.f_code.co_name for frame, _ in traceback.walk_tb(tb)]
            print("hook:", kind.__name__, value, names)


        def order(n):
            return shipping.send(n)


        sys.excepthook = walk
        order(5)
        """,
    )
    plain = sandbox.python("job.py")
    durable = sandbox.run("job.py")
    assert "hook: ShippingError parcel 5 lost" in plain.stdout, plain
    assert (durable.stdout, durable.stderr, durable.returncode) == (
        plain.stdout,
        plain.stderr,
        plain.returncode,
    )


RESUMED = """
    import asyncio
    import os
    import traceback

    import shipping


    def order(n):
        return shipping.send(n)


    def checkout():
        try:
            order(3)
        except shipping.ShippingError as exc:
            traceback.print_exc()
            return exc


    def tidy():
        try:
            os.remove("missing.txt")
        except OSError as exc:
            traceback.print_exc()
            return exc


    async def checkout_later():
        try:
            await shipping.send_later(6)
        except shipping.ShippingError as exc:
            traceback.print_exc()
            return exc


    failures = [checkout(), tidy(), asyncio.run(checkout_later())]
    shipping.confirm(1)
    for exc in failures:
        print(type(exc).__name__, exc.args, [f.name for f in traceback.extract_tb(exc.__traceback__)])
        traceback.print_exception(exc)
"""
# A frame of the library in a printed traceback (its ``File`` line, its source and carets), and
# in the frames' names the script prints.
LIBRARY_FRAME = re.compile(r'  File "[^"]*shipping\.py".*\n(?:    .*\n)*')
LIBRARY_NAME = re.compile(r", '(?:send|send_later|_lose)'")


@needs_c_resolver
def test_replayed_exception_prints_the_scripts_frames_once(sandbox):
    """Killed after the tracebacks were printed, the resumed run does not print them again; the
    replayed exceptions still work, with the script's frames down to the call site: python's,
    but for the library's frames (the library did not run this time). ``os.remove`` is a C
    function, so its traceback is python's exactly; an awaited one keeps the script's frames too."""
    sandbox.write("job.py", RESUMED)
    plain = sandbox.python("job.py")
    assert plain.returncode == 0 and plain.stderr.count("Traceback") == 6, plain
    sandbox.run("job.py")  # the whole run, to find where to kill the next one
    journal = sandbox.journal_of("job.py")
    confirm = next(entry for entry in journal if entry["name"] == "shipping.confirm")
    # Committed with it: the main task's entries up to it and those of asyncio.run's task.
    after_confirm = sum(e["task"] != "main" or e["seq"] <= confirm["seq"] for e in journal)

    execution = sandbox.resume("job.py", kill_ats=[after_confirm])
    killed, resumed = execution.attempts
    assert killed.killed and "resuming run" in resumed.notes, execution
    assert killed.stdout == ""
    printed_before = killed.script_stderr
    assert printed_before.count("Traceback") == 3 and "in _lose" in printed_before, killed
    assert plain.stderr.startswith(printed_before)
    printed_after = plain.stderr[len(printed_before) :]
    assert resumed.script_stderr == LIBRARY_FRAME.sub("", printed_after)
    assert resumed.stdout == LIBRARY_NAME.sub("", plain.stdout)
    assert resumed.returncode == 0
