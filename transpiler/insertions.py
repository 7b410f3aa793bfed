"""What a rewrite is: text inserted into the source at character positions.

Shared by the two call-site finders (``rewrite``'s, with ast, and the libcst fallback in
``cst_finder``), by ``positions`` (which maps columns back through the insertions) and by
``transpile``, which applies them.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

RESOLVER = "__dp__"

# Builtins whose call never needs the runtime: pure, or sensitive to the calling frame (which the
# plain call preserves). ``print``, ``open``, ``input`` and ``__import__`` are left to the runtime.
STATIC_BUILTINS = frozenset(
    """abs aiter all anext any ascii bin bool bytearray bytes callable chr classmethod compile
    complex delattr dict dir divmod enumerate eval exec filter float format frozenset getattr
    globals hasattr hash hex id int isinstance issubclass iter len list locals map max memoryview
    min next object oct ord pow property range repr reversed round set setattr slice sorted
    staticmethod str sum super tuple type vars zip BaseException Exception ValueError TypeError
    KeyError IndexError RuntimeError StopIteration AttributeError NotImplementedError
    ArithmeticError ZeroDivisionError OSError AssertionError LookupError""".split()
)


@dataclass(frozen=True, order=True)
class Insertion:
    """Text inserted into the original source: ``line`` is 1-based, ``column`` counts characters.

    ``order`` puts a closing ``)`` before an opening ``__dp__(`` at the same place. An insertion
    may replace ``replaces`` characters of the original with ``text`` of the same length (so
    columns after it do not move).
    """

    line: int
    column: int
    order: int
    text: str
    replaces: int = 0


def imported_at_module_level(tree: ast.Module) -> frozenset[str]:
    """The names an import binds in the module's own scope (CPython's ``is_import_originated``:
    ``name.attr(args)`` on one of them is compiled as an attribute call, not a method call)."""
    names: set[str] = set()
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update(
                (a.asname or a.name.partition(".")[0]) for a in node.names if a.name != "*"
            )
        elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            pending.extend(
                child
                for child in ast.iter_child_nodes(node)
                if isinstance(child, ast.stmt | ast.excepthandler | ast.match_case)
            )
    return frozenset(names)


def is_method_call_form(attribute: str, value_name: str | None, imported: frozenset[str]) -> bool:
    """Whether ``obj.attribute(args)`` (not in an f-string, its callee not in parentheses of its
    own) is rewritten ``__dp__(obj, 'attribute').attribute(args)``: the resolver then hands back
    ``obj`` itself for an inline method of its type, so the call stays a method call and no bound
    method is made (``__dp__(obj.attribute)`` made one per call, most of the cost of object-heavy
    code). Not for a mangled ``__private`` name (the string would not be mangled), nor for a name
    imported at module level, which CPython compiles as an attribute call."""
    if attribute.startswith("__") and not attribute.endswith("__"):
        return False
    return value_name not in imported


def skip_whitespace(lines: list[str], line: int, column: int) -> tuple[int, int]:
    """The first position at or after ``(line, column)`` that is not whitespace."""
    while True:
        text = lines[line - 1]
        while column < len(text) and text[column] in " \t\f\r\n":
            column += 1
        if column < len(text):
            return line, column
        line, column = line + 1, 0


def text_between(lines: list[str], start: tuple[int, int], end: tuple[int, int]) -> str:
    """The source text from ``start`` to ``end`` (1-based lines, character columns)."""
    if start[0] == end[0]:
        return lines[start[0] - 1][start[1] : end[1]]
    middle = lines[start[0] : end[0] - 1]
    return "".join([lines[start[0] - 1][start[1] :], *middle, lines[end[0] - 1][: end[1]]])


FSTRING_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "{": "{{", "}": "}}"}


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def split_lines(source: str) -> list[str]:
    """Split like Python's tokenizer does (only CR, LF and CRLF end a line), keeping the ends."""
    return _LINE.findall(source)


def apply_insertions(source: str, insertions: list[Insertion]) -> str:
    """Return ``source`` with ``insertions`` (sorted) applied."""
    lines = split_lines(source)
    by_line: dict[int, list[Insertion]] = {}
    for insertion in insertions:
        by_line.setdefault(insertion.line, []).append(insertion)
    for line_number, line_insertions in by_line.items():
        text = lines[line_number - 1]
        pieces, start = [], 0
        for insertion in line_insertions:
            pieces.append(text[start : insertion.column])
            pieces.append(insertion.text)
            start = insertion.column + insertion.replaces
        pieces.append(text[start:])
        lines[line_number - 1] = "".join(pieces)
    return "".join(lines)
