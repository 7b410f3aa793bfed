"""Find every call site ``f(args)`` and rewrite it to ``__dp__(f)(args)``, using libcst.

The runtime's resolver ``__dp__`` sees the callable before the arguments are evaluated and returns
either the callable itself (run inline, from the user's own frame) or a recording wrapper. Calls whose
target is known at rewrite time to be the script's own code or a pure builtin stay plain calls: they
would resolve to themselves anyway, and skipping the resolver keeps call-heavy code fast.

libcst finds the call sites, decides which are static and gives their exact positions; the rewrite
itself only inserts text (``__dp__(`` before a callee, ``)`` after it) and never removes or moves
any, so line numbers stay as they were and ``positions.py`` can map columns back exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import (
    Assignment,
    BuiltinAssignment,
    ScopeProvider,
    WhitespaceInclusivePositionProvider,
)

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


def _has_star_import(module: cst.Module) -> bool:
    return any(
        isinstance(stmt, cst.SimpleStatementLine)
        and any(
            isinstance(small, cst.ImportFrom) and isinstance(small.names, cst.ImportStar)
            for small in stmt.body
        )
        for stmt in module.body
    )


@dataclass(frozen=True, order=True)
class Insertion:
    """Text inserted into the original source: ``line`` is 1-based, ``column`` counts characters.

    ``order`` puts a closing ``)`` before an opening ``__dp__(`` at the same place.
    """

    line: int
    column: int
    order: int
    text: str


class _CallSiteFinder(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (ScopeProvider, WhitespaceInclusivePositionProvider)

    def __init__(self, builtins_are_safe: bool) -> None:
        super().__init__()
        self._builtins_are_safe = builtins_are_safe
        self.insertions: list[Insertion] = []

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and self._name_is_static(node.func):
            return
        extent = self.get_metadata(WhitespaceInclusivePositionProvider, node.func)
        self.insertions.append(Insertion(extent.start.line, extent.start.column, 1, RESOLVER + "("))
        self.insertions.append(Insertion(extent.end.line, extent.end.column, 0, ")"))

    def _name_is_static(self, name: cst.Name) -> bool:
        scope = self.get_metadata(ScopeProvider, name, None)
        if scope is None:
            return False
        assignments = list(scope[name.value])
        if not assignments:
            return False
        if all(isinstance(a, BuiltinAssignment) for a in assignments):
            return self._builtins_are_safe and name.value in STATIC_BUILTINS
        if len(assignments) != 1 or not isinstance(assignments[0], Assignment):
            return False
        definition = assignments[0].node
        return isinstance(definition, (cst.FunctionDef, cst.ClassDef)) and not definition.decorators


def find_insertions(source: str) -> list[Insertion]:
    """Return the insertions that route every dynamic call site of ``source`` through the resolver."""
    module = cst.parse_module(source)
    finder = _CallSiteFinder(builtins_are_safe=not _has_star_import(module))
    cst.MetadataWrapper(module, unsafe_skip_copy=True).visit(finder)
    return sorted(finder.insertions)


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
            start = insertion.column
        pieces.append(text[start:])
        lines[line_number - 1] = "".join(pieces)
    return "".join(lines)
