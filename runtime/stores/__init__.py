"""Stores: where runs, journals and events are kept (see base.py for the interface).

``open_store`` picks the implementation from the location: a directory is a ``LocalStore``, a
``postgresql://`` URL a ``PostgresStore``.
Everything else gets its store from here, so a new kind of store is one module and one line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Store

_POSTGRESQL = ("postgresql://", "postgres://")


def open_store(location: str | os.PathLike[str]) -> Store:
    """The store at ``location``: a directory path, or a ``postgresql://`` URL."""
    text = os.fspath(location)
    if text.startswith(_POSTGRESQL):
        from .postgresql import PostgresStore

        return PostgresStore(text)
    from .local import LocalStore

    return LocalStore(Path(text))


def configured_store(option: str | None = None, near: Path | None = None) -> Store:
    """The store the command line ``option``, ``DURABLE_PYTHON_STORE`` or the nearest
    pyproject.toml (searched from ``near``, default the working directory) points at."""
    from durable_python import config

    return open_store(config.load(near or Path.cwd(), option).store)
