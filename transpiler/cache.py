"""A cache of rewritten code objects, keyed by source hash, file name and transpiler version.

A warm start of an unchanged script unmarshals its code from here and never imports libcst.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import marshal
import os
import sys
import tempfile
from pathlib import Path
from types import CodeType

FORMAT = b"durable-python transpiler 1"


@functools.cache
def cache_dir() -> Path:
    """``$DURABLE_PYTHON_CACHE``, else ``$XDG_CACHE_HOME/durable-python``, else ``~/.cache/...``.

    Read once: later imports of the script's modules happen while the script runs, and must not
    read the (then recorded) environment on the script's behalf.
    """
    explicit = os.environ.get("DURABLE_PYTHON_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "durable-python"


def cache_key(source: bytes, filename: str) -> str:
    digest = hashlib.sha256(FORMAT)
    digest.update(importlib.util.MAGIC_NUMBER)
    digest.update(filename.encode("utf-8", "surrogatepass") + b"\0")
    digest.update(source)
    return digest.hexdigest()


def load(key: str) -> CodeType | None:
    try:
        data = (cache_dir() / key[:2] / key).read_bytes()
        return marshal.loads(data)
    except (OSError, ValueError, EOFError, TypeError):
        return None


def store(key: str, code: CodeType) -> None:
    """Save ``code`` atomically; a cache that cannot be written is simply not used."""
    directory = cache_dir() / key[:2]
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(marshal.dumps(code))
        os.replace(tmp, directory / key)
    except OSError as exc:
        if os.environ.get("DURABLE_PYTHON_DEBUG"):
            print(f"durable-python: code cache not written: {exc}", file=sys.stderr)
