"""The one exception hierarchy of durable-python, and the exit codes of its own failures.

Exit codes follow sysexits.h so they do not collide with a script's own 0, 1, 2 or 128+N.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Divergence

EXIT_MISSING_SCRIPT = 2  # what ``python missing.py`` returns
EXIT_USAGE = 64  # EX_USAGE: bad command line, unknown run id
EXIT_DIVERGENCE = 65  # EX_DATAERR: the script no longer matches its journal
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in durable-python itself
EXIT_STORE = 74  # EX_IOERR: the store is locked, full, corrupt or unwritable
EXIT_SUSPENDED = 75  # EX_TEMPFAIL: the run is waiting and will be resumed later
EXIT_CANCELLED = 79  # the run was cancelled (durable-python cancel) and did not catch it


class DurablePythonError(BaseException):
    """Base class of every error durable-python raises on its own account.

    It derives from ``BaseException`` like ``SystemExit``: a script's ``except Exception`` must not
    swallow a divergence or a store failure and go on with a journal that no longer holds.
    """

    exit_code = EXIT_INTERNAL


class UsageError(DurablePythonError):
    """A command line or argument that cannot be acted on."""

    exit_code = EXIT_USAGE


class StoreError(DurablePythonError):
    """The store cannot be read or written; nothing that was committed is lost."""

    exit_code = EXIT_STORE


def unwritable(what: str, exc: OSError, then: str) -> StoreError:
    """The error for a store file that cannot be written: a full disk said as such, with what
    to do (``then``: what happens to the run meanwhile)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreError(
            f"the disk is full: cannot write {what} ({exc.strerror}). {then} Free space on that"
            " disk, then run the same command again: the run resumes where it stopped."
        )
    return StoreError(
        f"cannot write {what}: {exc.strerror}. {then} Free space or fix the permissions of the"
        " store, then run the same command again."
    )


class NondeterminismError(DurablePythonError):
    """On replay the script made a different call than its journal recorded at that point.

    ``divergence`` says where and how, field by field; the message is its rendering.
    """

    exit_code = EXIT_DIVERGENCE

    def __init__(self, divergence: Divergence, command: str) -> None:
        """``command``: the exact command line that starts the script afresh."""
        super().__init__(divergence.render(command))
        self.divergence = divergence


class UnsavedResultError(DurablePythonError):
    """A replayed result could not be saved when it was recorded, and the code used it live."""

    exit_code = 1  # a failure of the script's own code, like any uncaught exception


class Cancelled(BaseException):  # noqa: N818 - the name users catch
    """Raised inside a run that was cancelled, so ``finally`` blocks can compensate."""

    exit_code = EXIT_CANCELLED
