"""The run executing in this process: all of its state in one object, ``RunContext``.

Exactly one run is active at a time (``durable-python run`` executes one script; ``replay``
replays one). ``session.activate`` makes a context active for the script's whole life and
puts everything back afterwards; the rest of the runtime reads it with ``active()`` and changes
only the context's own attributes, never another module's globals.

The task a thread or coroutine records under lives in ``task_var``, a context variable: each
asyncio task runs in its own copy of the context, and each thread the script starts is given its
own task.
"""

from __future__ import annotations

import os
import random
import shlex
import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Config
    from .decider import Decider
    from .journal import Journal, TaskJournal
    from .model import Run
    from .stores.base import Store

# Called where a recorded call would run live: (task, seq, policy, name, site). Replay-only
# mode stops the script there (the frontier).
FrontierHook = Callable[["TaskJournal", int, str, str, str], None]


@dataclass(eq=False)
class RunContext:
    journal: Journal
    run: Run
    settings: Config
    decider: Decider
    store: Store | None = None  # None: nothing outside the journal is read or written
    live: bool = True  # False in replay-only mode: nothing waits, runs or is written
    at_frontier: FrontierHook | None = None
    # Stop the run here for good (suspension): commit, store this status and exit code.
    stop: Callable[[str, int], None] = lambda status, code: None
    failure: BaseException | None = None  # once the run diverged, every recorded call re-raises
    cancel_requested: bool = False
    # Set with cancel_requested by the cancel signal, whose handler does no I/O (it may interrupt
    # the store amid a query): the store confirms the request where it would be delivered.
    cancel_unconfirmed: bool = False
    retry_default: Any = None  # a retries.RetryPolicy for every recorded effect, if configured
    retry_policy_for: Callable[[RunContext, str], Any] | None = None  # see retries.policy_for
    wakeup: threading.Event = field(default_factory=threading.Event)  # ends a wait early
    consumed: set[str] = field(default_factory=set)  # ids of the events the run received
    patches_seen: dict[str, set[str]] = field(default_factory=dict)  # task -> change ids
    progress: Any = None  # the replay progress line (progress.Progress), if shown
    store_option: str | None = None  # the --store the command was given, for commands we suggest
    # What the script's ``random.random()``, ``random.choice()``... draw from (decider.py): its
    # own generator, so draws that libraries make from the module's one do not shift its sequence.
    script_random: random.Random = field(default_factory=random.Random)
    _numbers: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def next_number(self, kind: str, task: TaskJournal) -> int:
        """The number of the next handle of ``kind`` a task opens (a file, a connection, a
        process): counted per task in the order the script opens them, so the same on replay."""
        slot = (kind, task.name)
        number = self._numbers.get(slot, 0)
        self._numbers[slot] = number + 1
        return number

    def restart_command(self) -> str:
        """The exact command that starts this run's script afresh (``run --new``)."""
        store = ["--store", self.store_option] if self.store_option else []
        return shlex.join(["durable-python", "run", "--new", *store, *self.run.argv])

    def confirm_cancel(self) -> bool:
        """Whether the cancel request stands; one the signal reported is asked of the store (a
        SIGURG may also be a socket's urgent data, or come after the request was answered)."""
        if self.cancel_unconfirmed:
            self.cancel_unconfirmed = False
            self.cancel_requested = self.store is not None and self.store.cancel_requested(
                self.run_id
            )
        return self.cancel_requested

    def cancel_delivered(self) -> None:
        """Cancelled was raised in the script: the request is answered."""
        self.cancel_requested = self.cancel_unconfirmed = False
        if self.store is not None and self.live:
            self.store.clear_cancel(self.run_id)


_active: RunContext | None = None
task_var: ContextVar[TaskJournal | None] = ContextVar("durable_python_task", default=None)


def active() -> RunContext | None:
    """The run executing in this process, or ``None`` outside ``durable-python``."""
    return _active


def set_active(context: RunContext | None) -> None:
    """Make ``context`` the active run (``session.activate`` does, around the script)."""
    global _active
    _active = context
    task_var.set(None)


def _forget_in_forked_child() -> None:
    """A forked child (a process pool's worker) is not the run: its work is covered by the
    parent's entry for it, and it must never write to the parent's journal, whose files it
    inherited (it once recorded into it, shifting the parent's entries)."""
    global _active
    _active = None


os.register_at_fork(after_in_child=_forget_in_forked_child)
