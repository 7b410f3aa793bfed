"""Source-to-source rewriting of user scripts (``durable_python.transpiler``).

Pure: it imports nothing of the runtime. ``load_code`` is the entry point used by ``run`` and the
import hook; ``transpile`` returns the rewritten text for ``durable-python transpile``.
"""

from __future__ import annotations

import importlib.util
from types import CodeType

from . import cache

RESOLVER = "__dp__"


def decode(source: bytes) -> str:
    """Decode a source file the way the interpreter does (PEP 263 coding line, BOM, newlines)."""
    return importlib.util.decode_source(source)


def transpile(source: str) -> str:
    """Return ``source`` with every dynamic call routed through the runtime's resolver."""
    from .rewrite import apply_insertions, find_insertions

    return apply_insertions(source, find_insertions(source))


def compile_source(source_bytes: bytes, filename: str) -> CodeType:
    """Rewrite and compile, with the original positions. Raises SyntaxError exactly like Python."""
    text = decode(source_bytes)
    compile(text, filename, "exec", dont_inherit=True)  # Python's own syntax errors, unchanged
    from .positions import compile_rewritten
    from .rewrite import apply_insertions, find_insertions

    insertions = find_insertions(text)
    return compile_rewritten(text, apply_insertions(text, insertions), insertions, filename)


def load_code(source_bytes: bytes, filename: str) -> CodeType:
    """Rewritten code for a file's contents, from the cache when it has been seen before."""
    key = cache.cache_key(source_bytes, filename)
    code = cache.load(key)
    if code is None:
        code = compile_source(source_bytes, filename)
        cache.store(key, code)
    return code
