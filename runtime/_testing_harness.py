"""The pieces of ``durable_python.testing`` that run the ``durable-python`` command as a user
would: where the command is, one process's result, a sandbox (working directory, private store
and transpile cache, clean environment) that runs, kills and resumes it, a background process,
and a witness HTTP server. Public through ``durable_python.testing``; this module is private.

Kills: the test hook ``DURABLE_PYTHON_TEST_KILL_AT=N`` makes the process SIGKILL itself right
after the commit that brings its journal to N entries or more (a journal position); a moment is
a SIGKILL sent from here, after a delay or once a condition holds.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .errors import EXIT_DIVERGENCE, EXIT_INTERNAL, EXIT_STORE, EXIT_USAGE

KILLED = -signal.SIGKILL
TIMED_OUT = 124  # what ``timeout(1)`` returns: an attempt that ran longer than allowed
KILL_AT = "DURABLE_PYTHON_TEST_KILL_AT"
OWN = "durable-python: "  # how durable-python's own lines on stderr start
_OWN_FAILURES = (EXIT_USAGE, EXIT_DIVERGENCE, EXIT_INTERNAL, EXIT_STORE, TIMED_OUT)


class CommandNotFound(RuntimeError):
    """The ``durable-python`` command is neither beside this interpreter nor on PATH."""


def durable_python_command() -> str:
    """The installed ``durable-python`` next to this interpreter (a venv), else the one on PATH:
    tests run the command a user runs, not an import of the package."""
    beside = Path(sys.executable).with_name("durable-python")
    if beside.exists():
        return str(beside)
    found = shutil.which("durable-python")
    if found is None:
        raise CommandNotFound("the durable-python command is not installed (pip install it)")
    return found


def _text(output: bytes | str | None) -> str:
    if isinstance(output, bytes):
        return output.decode("utf-8", "backslashreplace")
    return output or ""


def _clip(text: str, keep: int = 3000) -> str:
    if len(text) <= 2 * keep:
        return text
    return f"{text[:keep]}\n[... {len(text) - 2 * keep} characters ...]\n{text[-keep:]}"


def split_stderr(text: str, exit_code: int) -> tuple[str, str]:
    """(the script's stderr, durable-python's own lines). When durable-python itself ended the
    process (usage, divergence, internal or store error, timeout), its last message runs from
    its last own line to the end of stderr."""
    lines = text.splitlines(keepends=True)
    cut = len(lines)
    if exit_code in _OWN_FAILURES:
        own_starts = [i for i, line in enumerate(lines) if line.startswith(OWN)]
        cut = own_starts[-1] if own_starts else cut
    script = [line for line in lines[:cut] if not line.startswith(OWN)]
    own = [line for line in lines[:cut] if line.startswith(OWN)] + lines[cut:]
    return "".join(script), "".join(own)


@dataclass(repr=False)
class Attempt:
    """One process of ``durable-python`` (or plain ``python``): how it ended and what it wrote.

    ``stderr`` is all of it; ``script_stderr`` and ``notes`` split it into what the script wrote
    and what durable-python itself said. ``journal_size`` and ``last_entry`` are filled in by
    ``run_with_crashes`` (the journal after the attempt, the entry committed last before a kill).
    """

    exit_code: int
    stdout: str
    stderr: str
    seconds: float = 0.0
    kill_at: int | None = None
    ended_at: float = field(default_factory=time.time)  # wall clock, as the journal's times
    journal_size: int = 0
    last_entry: str | None = None

    @property
    def returncode(self) -> int:
        """``exit_code`` under the name ``subprocess`` gives it."""
        return self.exit_code

    @property
    def killed(self) -> bool:
        return self.exit_code == KILLED

    @property
    def script_stderr(self) -> str:
        """What the script wrote to stderr: durable-python's own lines taken out."""
        return split_stderr(self.stderr, self.exit_code)[0]

    @property
    def notes(self) -> str:
        """What durable-python itself wrote to stderr (its lines start ``durable-python: ``)."""
        return split_stderr(self.stderr, self.exit_code)[1]

    @property
    def final_note(self) -> str:
        """The message durable-python ended the process with (its last own line to the end of
        stderr), for an exit code of its own; else ``""``."""
        if self.exit_code not in _OWN_FAILURES:
            return ""
        notes = self.notes
        at = notes.rfind("\n" + OWN)
        return (notes[at + 1 :] if at >= 0 else notes).removeprefix(OWN).strip()

    def __str__(self) -> str:
        return (
            f"exit {self.exit_code} after {self.seconds:.2f}s (kill_at={self.kill_at})\n"
            f"--- stdout\n{_clip(self.stdout)}--- stderr\n{_clip(self.stderr)}"
        )

    __repr__ = __str__  # assertion messages show the output, not a one-line repr


@dataclass(repr=False)
class Execution:
    """A script run to its end through a crash schedule: the attempts and the final journal."""

    script: str = ""
    args: list[str] = field(default_factory=list)
    schedule: tuple[int, ...] = ()
    attempts: list[Attempt] = field(default_factory=list)
    entries: list[Any] = field(default_factory=list)  # durable_python.journal.Entry

    @property
    def final(self) -> Attempt:
        """The last attempt: the one that was not killed, when the run finished."""
        return self.attempts[-1]

    @property
    def stdout(self) -> str:
        return "".join(a.stdout for a in self.attempts)

    @property
    def stderr(self) -> str:
        """What the script wrote to stderr, durable-python's own lines taken out."""
        return "".join(a.script_stderr for a in self.attempts)

    @property
    def exit_code(self) -> int:
        return self.attempts[-1].exit_code if self.attempts else -1

    @property
    def crashes(self) -> int:
        return sum(a.killed for a in self.attempts)

    @property
    def journal_size(self) -> int:
        return len(self.entries)

    @property
    def divergence(self) -> str | None:
        """What durable-python said when it ended an attempt with the divergence exit code (65,
        ``errors.EXIT_DIVERGENCE``), if one did."""
        for attempt in self.attempts:
            if attempt.exit_code == EXIT_DIVERGENCE:
                return attempt.final_note or "exit code 65 (divergence)"
        return None

    @property
    def calls(self) -> list[tuple[str, int, str, str, str]]:
        """The recorded calls, outputs left out: (task, seq, policy, name, argument hash)."""
        return [
            (e.task, e.seq, e.policy, e.name, e.fingerprint.partition("|")[0])
            for e in self.entries
            if e.policy != "output"
        ]

    def __str__(self) -> str:
        return "\n".join(f"=== attempt {i + 1}: {a}" for i, a in enumerate(self.attempts))

    __repr__ = __str__


def _environment(
    base: dict[str, str], extra: dict[str, str | None] | None = None
) -> dict[str, str]:
    env = dict(base)
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


class Process:
    """A command started in the background; its output is read as it comes (a chatty process
    never blocks on a full pipe) and kept: ``out``, ``err``, ``readline``, ``expect``."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        cwd: Path,
        env: dict[str, str],
        merge_stderr: bool = False,
        new_session: bool = False,
    ) -> None:
        self.started = time.monotonic()
        self.new_session = new_session
        self.popen = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            text=True,
            errors="backslashreplace",
            start_new_session=new_session,
        )
        self._out: list[str] = []
        self._err: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._readers = [self._drain(self.popen.stdout, self._out, self._lines)]
        if not merge_stderr:
            self._readers.append(self._drain(self.popen.stderr, self._err, None))

    @staticmethod
    def _drain(stream, into: list[str], lines: queue.Queue | None) -> threading.Thread:
        def read() -> None:
            for line in iter(stream.readline, ""):
                into.append(line)
                if lines is not None:
                    lines.put(line)
            if lines is not None:
                lines.put(None)
            stream.close()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        return reader

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def out(self) -> str:
        """What it wrote to stdout so far."""
        return "".join(self._out)

    @property
    def err(self) -> str:
        """What it wrote to stderr so far."""
        return "".join(self._err)

    def poll(self) -> int | None:
        return self.popen.poll()

    def readline(self, timeout: float = 60) -> str:
        """Its next line on stdout (``""`` once it has closed stdout)."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line within {timeout} s; got:\n{self.out}") from None
        if line is None:
            self._lines.put(None)
            return ""
        return line

    def expect(self, pattern: str, timeout: float = 90) -> list[str]:
        """Its stdout lines (newline stripped) up to the first that matches ``pattern``."""
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                if time.monotonic() >= deadline:
                    raise AssertionError(
                        f"no line matching {pattern!r} within {timeout} s; got:\n{self.out}"
                    ) from None
                continue
            if line is None:
                self._lines.put(None)
                raise AssertionError(
                    f"the command ended before a line matching {pattern!r}:\n{self.out}"
                )
            got.append(line.rstrip("\n"))
            if re.search(pattern, line):
                return got

    def send_signal(self, sig: int) -> None:
        self.popen.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL it (a crash), if it still runs."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)

    def kill_when(
        self, condition: Callable[[], Any], poll: float = 0.02, timeout: float = 180
    ) -> Process:
        """SIGKILL it as soon as ``condition()`` holds (unless it ends first)."""
        while self.popen.poll() is None:
            if condition():
                self.kill()
                break
            if time.monotonic() - self.started > timeout:
                self.popen.kill()
                raise AssertionError(f"the kill condition did not hold within {timeout} s")
            time.sleep(poll)
        return self

    def kill_after(self, delay: float) -> Process:
        """SIGKILL it ``delay`` seconds after its start (unless it ends first)."""
        try:
            self.popen.wait(timeout=max(0.0, self.started + delay - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
        return self

    def wait(self, timeout: float = 60) -> int:
        """Its exit code, once it has ended and all it wrote has been read."""
        code = self.popen.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        return code

    def finish(self, timeout: float = 120) -> Attempt:
        """Wait for its end: the :class:`Attempt` (all it wrote, seconds since its start)."""
        self.wait(timeout)
        return Attempt(self.popen.returncode, self.out, self.err, time.monotonic() - self.started)

    def stop(self) -> None:
        """SIGTERM it (its process group, if it has its own session), then SIGKILL if needed."""
        if self.popen.poll() is not None:
            return
        self._signal(signal.SIGTERM)
        try:
            self.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.wait()

    def _signal(self, sig: int) -> None:
        try:
            if self.new_session:
                os.killpg(self.popen.pid, sig)
            else:
                self.popen.send_signal(sig)
        except ProcessLookupError:
            pass


class Sandbox:
    """A project of its own: a working directory (``work``), a private store (``store``) and
    transpile cache, a ``lib`` directory on ``PYTHONPATH`` (outside the scripts' tree, so not
    rewritten: its functions are effects), and the environment every command runs with:
    ``DURABLE_PYTHON_SYNC=0`` (a SIGKILL loses no page cache; fsync is slow) and no inherited
    ``DURABLE_PYTHON_*`` (nor, by default, ``PYTHON*``) variables.

    It runs ``durable-python`` as a user would: any subcommand, a script killed at a journal
    position or at a moment, in the background, and again until it is not killed.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        cache: str | os.PathLike[str] | None = None,
        work: str | os.PathLike[str] | None = None,
        clear: tuple[str, ...] = ("DURABLE_PYTHON_", "PYTHON"),
        unbuffered: bool = False,
        dedent: bool = True,
        lib: bool = True,
        command: Sequence[str] | None = None,
        env: dict[str, str | None] | None = None,
        store: str | None = None,
    ) -> None:
        """``cache``: a transpile cache to share (default: one of its own); ``work``: an existing
        working directory (default: a new one); ``clear``: prefixes of inherited variables left
        out; ``unbuffered``: ``PYTHONUNBUFFERED=1`` (what a killed attempt printed reaches the
        pipe); ``dedent``: ``write`` dedents text; ``lib``: put ``lib`` on ``PYTHONPATH``;
        ``command``: how to start durable-python (default: the installed command); ``env``: more
        variables (``None`` removes one); ``store``: a store directory or URL (default: a
        directory of its own, ``root/store``)."""
        self.root = Path(root)
        self.work = Path(work) if work is not None else self.root / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.lib = self.root / "lib"
        if lib:
            self.lib.mkdir(exist_ok=True)
        self.store: Path | str = store if store is not None else self.root / "store"
        self.local_store = not str(self.store).startswith(("postgresql://", "postgres://"))
        self.cache = Path(cache) if cache is not None else self.root / "cache"
        self.dedent = dedent
        self.command = list(command) if command else [durable_python_command()]
        base = {k: v for k, v in os.environ.items() if not k.startswith(clear)}
        if lib:
            path = [str(self.lib), base.get("PYTHONPATH")]
            base["PYTHONPATH"] = os.pathsep.join(filter(None, path))
        if unbuffered:
            base["PYTHONUNBUFFERED"] = "1"
        base["DURABLE_PYTHON_STORE"] = str(self.store)
        base["DURABLE_PYTHON_CACHE"] = str(self.cache)
        base["DURABLE_PYTHON_SYNC"] = "0"
        self.env = _environment(base, env)
        self._processes: list[Process] = []

    # -- files ---------------------------------------------------------------------------------

    def write(self, name: str, text: str | bytes, *, lib: bool = False) -> Path:
        """Write a file in the working directory (or ``lib``); text is dedented if ``dedent``."""
        path = (self.lib if lib else self.work) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(
                textwrap.dedent(text).lstrip() if self.dedent else text, encoding="utf-8"
            )
        return path

    def write_lib(self, name: str, text: str) -> Path:
        """A module in ``lib``: importable by scripts, not rewritten."""
        return self.write(name, text, lib=True)

    # -- commands ------------------------------------------------------------------------------

    def environment(self, extra: dict[str, str | None] | None = None) -> dict[str, str]:
        """The environment of a command: ``env`` with ``extra`` (``None`` removes a variable)."""
        return _environment(self.env, extra)

    def _exec(
        self,
        command: list[str],
        env: dict[str, str | None] | None,
        cwd: str | os.PathLike[str] | None,
        timeout: float,
        kill_at: int | None,
        timed_out: bool,
    ) -> Attempt:
        extra = dict(env or {})
        if kill_at is not None:
            extra[KILL_AT] = str(kill_at)
        started = time.monotonic()
        try:
            done = subprocess.run(
                command,
                cwd=cwd or self.work,
                env=self.environment(extra),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="backslashreplace",
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            if not timed_out:
                raise
            done = subprocess.CompletedProcess(
                command,
                TIMED_OUT,
                _text(exc.stdout),
                _text(exc.stderr) + f"{OWN}timed out after {timeout:g} s\n",
            )
        return Attempt(
            done.returncode, done.stdout, done.stderr, time.monotonic() - started, kill_at
        )

    def cli(
        self,
        *args: str,
        env: dict[str, str | None] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        timeout: float = 120,
        kill_at: int | None = None,
        timed_out: bool = False,
    ) -> Attempt:
        """``durable-python ARGS`` to its end, or to the kill at journal position ``kill_at``.
        A timeout raises ``subprocess.TimeoutExpired``, or with ``timed_out`` gives an attempt
        with exit code 124."""
        return self._exec([*self.command, *args], env, cwd, timeout, kill_at, timed_out)

    def run(self, *args: str, **options: Any) -> Attempt:
        """``durable-python run ARGS`` (the options of ``cli``)."""
        return self.cli("run", *args, **options)

    def python(
        self,
        *args: str,
        env: dict[str, str | None] | None = None,
        timeout: float = 120,
        timed_out: bool = False,
    ) -> Attempt:
        """``python ARGS`` with the same interpreter and environment: the plain reference."""
        return self._exec([sys.executable, *args], env, None, timeout, None, timed_out)

    def start(
        self,
        *args: str,
        env: dict[str, str | None] | None = None,
        merge_stderr: bool = False,
        new_session: bool = False,
    ) -> Process:
        """``durable-python ARGS`` in the background; stopped at the sandbox's ``close``."""
        process = Process(
            [*self.command, *args],
            cwd=self.work,
            env=self.environment(env),
            merge_stderr=merge_stderr,
            new_session=new_session,
        )
        self._processes.append(process)
        return process

    def run_killed_after(
        self, delay: float, *args: str, env: dict[str, str | None] | None = None
    ) -> Attempt:
        """``durable-python run ARGS``, SIGKILLed ``delay`` seconds after its start if alive."""
        return self.start("run", *args, env=env).kill_after(delay).finish()

    def run_killed_when(
        self,
        condition: Callable[[], Any],
        *args: str,
        env: dict[str, str | None] | None = None,
        poll: float = 0.02,
        timeout: float = 180,
    ) -> Attempt:
        """``durable-python run ARGS``, SIGKILLed as soon as ``condition()`` holds."""
        process = self.start("run", *args, env=env)
        return process.kill_when(condition, poll, timeout).finish(timeout)

    def resume(
        self,
        *args: str,
        kill_ats: Sequence[int] = (),
        delays: Sequence[float] = (),
        env: dict[str, str | None] | None = None,
        env_per_attempt: Sequence[dict[str, str | None] | None] | None = None,
        skip_passed: bool = False,
        finished: Callable[[], bool] | None = None,
        max_attempts: int | None = None,
        require_end: bool = True,
        timeout: float = 120,
        timed_out: bool = False,
        after_attempt: Callable[[Attempt], None] | None = None,
    ) -> Any:
        """``durable-python run ARGS`` with a crash schedule, then the same command again until
        an attempt is not killed: the :class:`Execution` of all attempts.

        Attempt i is killed at journal position ``kill_ats[i]`` (the test hook), or
        ``delays[i]`` seconds after its start. ``skip_passed``: a position the journal has
        already reached when its attempt starts is skipped (the journal is read through the
        Store interface). ``finished()``: after a kill, whether the run is done anyway (the kill
        came after its end). ``require_end``: raise if the last attempt was killed.
        ``after_attempt``: called with each attempt (to record the journal after it).
        """
        execution = Execution(args=list(args), schedule=tuple(kill_ats))
        pending = list(kill_ats)
        limit = max_attempts or len(kill_ats) + len(delays) + 2
        for index in range(limit):
            if skip_passed:
                size = self.journal_size()
                while pending and pending[0] <= size:
                    pending.pop(0)
            kill_at = pending.pop(0) if pending else None
            delay = delays[index] if index < len(delays) else None
            extra = dict(env or {})
            if env_per_attempt and index < len(env_per_attempt):
                extra.update(env_per_attempt[index] or {})
            if delay is not None:
                attempt = self.run_killed_after(delay, *args, env=extra)
            else:
                attempt = self.run(
                    *args, env=extra, kill_at=kill_at, timeout=timeout, timed_out=timed_out
                )
            execution.attempts.append(attempt)
            if after_attempt is not None:
                after_attempt(attempt)
            if not attempt.killed or (finished is not None and finished()):
                return execution
            if kill_at is None and delay is None:
                break  # killed, but not by the schedule
        if require_end:
            raise AssertionError(f"the run did not finish:\n{execution}")
        return execution

    # -- what the store holds ------------------------------------------------------------------

    def open_store(self) -> Any:
        """The sandbox's store through the Store interface (``durable_python.stores``)."""
        from .stores import open_store

        return open_store(self.store)

    def _store_exists(self) -> bool:
        return not self.local_store or Path(self.store).exists()

    def journal_size(self) -> int:
        """How many entries the newest run's journal holds (0 without a run)."""
        store = self.open_store()
        runs = store.runs() if self._store_exists() else []
        return len(store.entries(runs[-1])) if runs else 0

    def runs(self, env: dict[str, str | None] | None = None) -> list[dict]:
        """``durable-python runs --json``: one dict a run."""
        done = self.cli("runs", "--json", env=env)
        assert done.exit_code == 0, done
        return [json.loads(line) for line in done.stdout.splitlines()]

    def runs_by_id(self) -> dict[str, dict]:
        """``runs --json`` keyed by run id."""
        return {row["run_id"]: row for row in self.runs()}

    def show(self, run_id: str) -> list[dict]:
        """``durable-python show RUN --json``: the run's journal, one dict an entry."""
        done = self.cli("show", run_id, "--json")
        assert done.exit_code == 0, done
        return [json.loads(line) for line in done.stdout.splitlines()]

    def runs_of(self, script: str) -> list[dict]:
        """The runs of ``script`` (a path relative to the working directory), oldest first."""
        path = str(self.work / script)
        return sorted((r for r in self.runs() if r["script"] == path), key=lambda r: r["started"])

    def run_of(self, script: str) -> dict:
        """The newest run of ``script``."""
        found = self.runs_of(script)
        assert found, f"no run of {self.work / script} in {self.runs()}"
        return found[-1]

    def journal_of(self, script: str) -> list[dict]:
        """The journal of the newest run of ``script`` (``show --json``)."""
        return self.show(self.run_of(script)["run_id"])

    def status(self, run_id: str) -> str | None:
        """A run's recorded status (``running`` for one whose process died), from the Store;
        ``None`` if there is no such run (yet)."""
        run = self.open_store().read(run_id) if self._store_exists() else None
        return None if run is None else str(run.status)

    def wait_status(self, run_id: str, statuses: Sequence[str], timeout: float = 30) -> str:
        """Wait until the run's status is one of ``statuses``; that status."""

        def reached() -> str | None:
            status = self.status(run_id)
            return status if status in statuses else None

        return wait_until(reached, timeout, f"run {run_id} to become {tuple(statuses)}")

    def wait_unlocked(self, run_id: str, timeout: float = 30) -> None:
        """Wait until no process holds the run's claim (a stopped run's background ``fold``
        holds it for a moment)."""
        store = self.open_store()
        wait_until(lambda: not store.is_live(run_id), timeout, f"the claim of run {run_id}")

    def settle(self, timeout: float = 60) -> None:
        """Wait until no background ``durable-python fold`` of this store is running.

        Every run that stops may start one, and while it folds a stopped run it holds that
        run's claim. Tests that run a command again right after a run stopped by itself settle
        first, so they do not depend on how the command copes with a fold in progress.
        """
        if not self.local_store:
            return  # only a local store folds
        if not os.path.isdir("/proc"):
            time.sleep(3)
            return
        marker = [b"fold", b"--store", str(self.store).encode()]

        def busy() -> bool:
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                        words = f.read().split(b"\0")
                except OSError:
                    continue
                if all(m in words for m in marker):
                    return True
            return False

        wait_until(lambda: not busy(), timeout, f"the folds of {self.store}", poll=0.02)

    def close(self) -> None:
        """Stop the background processes still running."""
        for process in self._processes:
            process.stop()


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, poll: float = 0.05) -> Any:
    """Poll ``predicate`` until it gives a true value (returned), or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


class Witness:
    """An HTTP server on 127.0.0.1 that counts requests (``METHOD /path``) and keeps each one's
    ``Idempotency-Key``: an external side effect, counted outside the process that may be killed.
    ``requests`` holds every request's name and headers in the order they arrived.

    ``?sleep=S`` delays the reply (an effect in flight); ``?fail=N`` answers 503 to the first N
    requests of a path. The reply is JSON: path, method, count, key, the request body as text.
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()  # "METHOD /path" -> requests
        self.keys: dict[str, list[str | None]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        witness = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                name = f"{self.command} {parts.path}"
                key = self.headers.get("Idempotency-Key")
                with witness.lock:
                    witness.counts[name] += 1
                    count = witness.counts[name]
                    witness.keys.setdefault(name, []).append(key)
                    witness.requests.append((name, dict(self.headers.items())))
                    witness.arrived.notify_all()
                if "sleep" in query:
                    time.sleep(float(query["sleep"][0]))
                status = 503 if count <= int(query.get("fail", ["0"])[0]) else 200
                reply = {
                    "path": parts.path,
                    "method": self.command,
                    "count": count,
                    "key": key,
                    "body": body,
                }
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Witness", "yes")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def counts_under(self, prefix: str, by_method: bool = False) -> dict[str, int]:
        """Counts of the requests whose path is under ``prefix``, keyed by the rest of the path
        (``METHOD /rest`` with ``by_method``; else all methods together)."""
        found: Counter[str] = Counter()
        with self.lock:
            for name, n in self.counts.items():
                method, _, path = name.partition(" ")
                if path.startswith(prefix + "/"):
                    rest = path[len(prefix) :]
                    found[f"{method} {rest}" if by_method else rest] += n
        return dict(found)

    def wait_for(self, name: str, timeout: float = 30) -> None:
        """Wait until a request ``METHOD /path`` has arrived."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: self.counts[name] > 0, timeout):
                raise AssertionError(f"{name} never arrived")

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
