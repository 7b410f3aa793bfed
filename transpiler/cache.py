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

FORMAT = b"durable-python transpiler 2"


def _fingerprint() -> bytes:
    """FORMAT and the transpiler's own source: any change to the rewrite invalidates the cache.

    Computed at import, before the script runs (the import hook runs inside the script).
    """
    digest = hashlib.sha256(FORMAT)
    directory = Path(__file__).parent
    try:
        for name in sorted(os.listdir(directory)):
            if name.endswith(".py"):
                digest.update((directory / name).read_bytes())
    except OSError:
        pass
    return digest.digest()


FINGERPRINT = _fingerprint()


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
    digest = hashlib.sha256(FINGERPRINT)
    digest.update(importlib.util.MAGIC_NUMBER)
    digest.update(filename.encode("utf-8", "surrogatepass") + b"\0")
    digest.update(source)
    return digest.hexdigest()


def load(key: str) -> tuple[CodeType, bool] | None:
    """The code stored under ``key`` and whether compiling it showed warnings, or ``None``."""
    try:
        data = (cache_dir() / key[:2] / key).read_bytes()
        code, warned = marshal.loads(data)
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not isinstance(code, CodeType):
        return None
    return code, bool(warned)


def store(key: str, code: CodeType, warned: bool = False) -> None:
    """Save ``code`` atomically; a cache that cannot be written is simply not used."""
    directory = cache_dir() / key[:2]
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(marshal.dumps((code, warned)))
        os.replace(tmp, directory / key)
    except OSError as exc:
        if os.environ.get("DURABLE_PYTHON_DEBUG"):
            print(f"durable-python: code cache not written: {exc}", file=sys.stderr)
