"""Source-to-source rewriting of user scripts (``durable_python.transpiler``).

Pure: it imports nothing of the runtime. ``load_code`` is the entry point used by ``run`` and the
import hook; ``transpile`` returns the rewritten text for ``durable-python transpile``.
"""

from __future__ import annotations

import codecs
import gc
import importlib.util
import marshal
import re
import warnings
from types import CodeType

from . import cache

RESOLVER = "__dp__"


def decode(source: bytes, filename: str | None = None) -> str:
    """Decode a source file the way the interpreter does (PEP 263 coding line, BOM, newlines).

    A file that cannot be decoded raises the ``SyntaxError`` that ``python file`` reports.
    """
    try:
        return importlib.util.decode_source(source)
    except (SyntaxError, UnicodeDecodeError, LookupError):
        pass
    raise _decoding_error(source, filename) from None


_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")
_BLANK = re.compile(rb"^[ \t\f]*(?:[#\r\n]|$)")


def _declared_encoding(source: bytes) -> str | None:
    """The PEP 263 encoding declared on the first or second line, as written."""
    lines = source.removeprefix(codecs.BOM_UTF8).split(b"\n", 2)[:2]
    for index, line in enumerate(lines):
        match = _CODING.match(line)
        if match:
            return match.group(1).decode("ascii", "replace")
        if index == 0 and not _BLANK.match(line):
            return None
    return None


def _normal_encoding_name(name: str) -> str:
    """The tokenizer's spelling of an encoding in its messages (``latin-1`` -> ``iso-8859-1``)."""
    short = name[:12].lower().replace("_", "-")
    if short == "utf-8" or short.startswith("utf-8-"):
        return "utf-8"
    latin = ("latin-1", "iso-8859-1", "iso-latin-1")
    if short in latin or short.startswith(tuple(n + "-" for n in latin)):
        return "iso-8859-1"
    return name


def _decoding_error(source: bytes, filename: str | None) -> SyntaxError:
    """The error Python's file reader gives for a source file that cannot be decoded."""
    declared = _declared_encoding(source)
    has_bom = source.startswith(codecs.BOM_UTF8)
    if declared is not None:
        name = _normal_encoding_name(declared)
        if has_bom and name != "utf-8":
            name += " with BOM"
        return SyntaxError(f"encoding problem: {name}")
    if not has_bom:
        try:
            source.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = source.count(b"\n", 0, exc.start) + 1
            return SyntaxError(
                f"Non-UTF-8 code starting with '\\x{source[exc.start]:02x}' in file {filename}"
                f" on line {line}, but no encoding declared;"
                " see https://peps.python.org/pep-0263/ for details"
            )
    try:  # anything else: what compiling the bytes says
        compile(source, filename or "<unknown>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return exc
    return SyntaxError("encoding problem: utf-8")


def transpile(source: str) -> str:
    """Return ``source`` with every dynamic call routed through the runtime's resolver."""
    from .insertions import apply_insertions
    from .rewrite import find_insertions

    return apply_insertions(source, find_insertions(source))


def compile_source(source_bytes: bytes, filename: str) -> CodeType:
    """Rewrite and compile, with the original positions. Raises SyntaxError exactly like Python."""
    return _compile(decode(source_bytes, filename), filename)[0]


def load_code(source_bytes: bytes, filename: str, *, warn_again: bool = True) -> CodeType:
    """Rewritten code for a file's contents, from the cache when it has been seen before.

    Compiling shows the file's compile-time warnings (``SyntaxWarning``) once, as Python does. A
    cached file that had some shows them again when ``warn_again`` is set, as Python does for the
    script it runs (it compiles the main script every time); the import hook passes ``False``,
    like a module imported from its ``.pyc``.
    """
    key = cache.cache_key(source_bytes, filename)
    cached = cache.load(key)
    if cached is None:
        code, warned = _compile(decode(source_bytes, filename), filename)
        cache.store(key, code, warned)
        # What the next start unmarshals from the cache: marshal rebuilds a frozenset constant
        # by inserting its elements in the order they were written, which can lay it out (and
        # so iterate it) differently than the compiler did. A run first started with a cold
        # cache and resumed with a warm one must see the same set orders.
        return marshal.loads(marshal.dumps(code))
    code, warned = cached
    if warned and warn_again:
        _compile_like_python(decode(source_bytes, filename), filename)
    return code


def _compile(text: str, filename: str) -> tuple[CodeType, bool]:
    """The rewritten code, and whether compiling the original showed warnings."""
    warned = _compile_like_python(text, filename)
    from .insertions import apply_insertions
    from .positions import compile_rewritten, compile_tree
    from .rewrite import rewrite

    # The syntax trees of a large file are hundreds of thousands of objects and hold no cycles:
    # the cyclic collector would only walk them again and again while they are built (a third
    # of the time of a first run of a 10,000-line script). Reference counting frees them.
    collecting = gc.isenabled()
    gc.disable()
    try:
        found = rewrite(text)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the same warnings again: they were shown above
            if found.tree is not None:
                code = compile_tree(text, found.tree, found.wrapped, filename)
            else:
                rewritten = apply_insertions(text, found.insertions)
                code = compile_rewritten(text, rewritten, found.insertions, filename)
    finally:
        if collecting:
            gc.enable()
    return code, warned


def _compile_like_python(text: str, filename: str) -> bool:
    """Compile ``text`` for Python's own syntax errors and warnings, raised and shown unchanged.

    Returns whether any warning was shown.
    """
    if "\0" in text:  # the message of Python's file reader, not compile()'s
        end = text.index("\0")
        start = text.rfind("\n", 0, end) + 1
        line = text.count("\n", 0, end) + 1
        raise SyntaxError(
            "source code cannot contain null bytes", (filename, line, None, text[start:end])
        )
    with warnings.catch_warnings(record=True) as caught:
        compile(text, filename, "exec", dont_inherit=True)
    for w in caught:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)
    return bool(caught)
