"""The libcst call-site finder: the fallback for what ``rewrite``'s ast finder does not model.

It is the original finder, kept for the few constructs where libcst's scope analysis has
behaviour the ast finder does not reproduce (a string annotation that defines or imports a
called name, calls inside the first argument of ``typing.TypeVar``/``NewType``, a parenthesized
callee whose parentheses span a commented line, an f-string whose positions CPython 3.11 gets
wrong). Importing it imports libcst, which is why ``rewrite`` only does so on demand.
"""

from __future__ import annotations

import ast
import builtins
import sys

import libcst as cst
from libcst.metadata import (
    Assignment,
    BuiltinAssignment,
    ScopeProvider,
    WhitespaceInclusivePositionProvider,
)

from .insertions import (
    FSTRING_ESCAPES,
    RESOLVER,
    STATIC_BUILTINS,
    Insertion,
    imported_at_module_level,
    is_method_call_form,
    skip_whitespace,
    split_lines,
    text_between,
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


class _CallSiteFinder(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (ScopeProvider, WhitespaceInclusivePositionProvider)

    def __init__(
        self,
        lines: list[str],
        shifts: dict[int, int],
        builtins_are_safe: bool,
        imported: frozenset[str],
    ) -> None:
        super().__init__()
        self._lines = lines
        self._imported = imported
        self._shifts = shifts
        self._builtins_are_safe = builtins_are_safe
        self.insertions: list[Insertion] = []
        self._raw_fstrings: list[bool] = []
        self._fstring_expressions: list[int] = []

    def _extent(self, node: cst.CSTNode) -> tuple[int, int, int, int]:
        """``node``'s start and end (line, column) in the parsed text."""
        extent = self.get_metadata(WhitespaceInclusivePositionProvider, node)
        start, end = extent.start, extent.end
        return (
            start.line,
            start.column + self._shifts.get(start.line, 0),
            end.line,
            end.column + self._shifts.get(end.line, 0),
        )

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and self._name_is_static(node.func):
            return
        start_line, start_column, end_line, end_column = self._extent(node.func)
        self.insertions.append(Insertion(start_line, start_column, 1, RESOLVER + "("))
        if self._is_method_call(node.func):
            dot_line, dot_column = self._extent(node.func.dot)[:2]
            name = node.func.attr.value
            self.insertions.append(Insertion(dot_line, dot_column, 0, f", {name!r})"))
        else:
            self.insertions.append(Insertion(end_line, end_column, 0, ")"))

    def _is_method_call(self, callee: cst.BaseExpression) -> bool:
        if not isinstance(callee, cst.Attribute) or callee.lpar or self._fstring_expressions:
            return False
        value = callee.value.value if isinstance(callee.value, cst.Name) else None
        return is_method_call_form(callee.attr.value, value, self._imported)

    def visit_FormattedString(self, node: cst.FormattedString) -> None:
        self._raw_fstrings.append("r" in node.prefix.lower())

    def leave_FormattedString(self, original_node: cst.FormattedString) -> None:
        self._raw_fstrings.pop()

    def visit_FormattedStringExpression(self, node: cst.FormattedStringExpression) -> None:
        self._fstring_expressions.append(len(self.insertions))

    def leave_FormattedStringExpression(self, original_node: cst.FormattedStringExpression) -> None:
        """``f"{expr=}"`` shows the text of ``expr``: when a call in it was rewritten, spell the
        original text out, so ``{expr=}`` becomes ``expr={expr !r}`` and ``{expr=!s:>9}``
        becomes ``expr={expr !s:>9}`` (the ``=`` is replaced by a space: columns stay put)."""
        node, first = original_node, self._fstring_expressions.pop()
        if node.equal is None or len(self.insertions) == first:
            return
        line, column, end_line, end_column = self._extent(node)
        # After the expression: whitespace, "=", whitespace (no comments in an f-string).
        equal_at = skip_whitespace(self._lines, *self._extent(node.expression)[2:])
        shown_end = skip_whitespace(self._lines, equal_at[0], equal_at[1] + 1)
        shown = text_between(self._lines, (line, column + 1), shown_end)
        raw = self._raw_fstrings[-1]
        if self._lines[equal_at[0] - 1][equal_at[1]] != "=" or (
            raw and any(c in shown for c in "\\'\"\n")
        ):
            del self.insertions[first:]  # cannot be spelled out: leave its calls as they are
            return
        if raw:
            literal = shown.replace("{", "{{").replace("}", "}}")
        else:
            literal = "".join(FSTRING_ESCAPES.get(c, c) for c in shown)
        self.insertions.append(Insertion(line, column, 2, literal))
        self.insertions.append(Insertion(*equal_at, 2, " ", replaces=1))
        if node.conversion is None and node.format_spec is None:
            self.insertions.append(Insertion(end_line, end_column - 1, 2, "!r"))

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


# libcst recurses once per operand of a long ``a + b + ...`` or ``"a" "b" ...`` chain (about three
# frames each); Python's own limit of 1000 would stop it at about 300 pieces, which real files
# (generated tables, long help texts) exceed. The C stack copes with this depth.
_RECURSION_LIMIT = 20_000


def find_insertions(source: str) -> list[Insertion]:
    """The insertions that route every dynamic call site of ``source`` through the resolver."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, _RECURSION_LIMIT))
    try:
        return _find_insertions(source)
    finally:
        sys.setrecursionlimit(limit)


def _find_insertions(source: str) -> list[Insertion]:
    parsed, module = _parse(source)
    lines = split_lines(parsed)
    shifts = _dropped_prefixes(lines, module.code) if "\f" in parsed else {}
    finder = _CallSiteFinder(
        lines,
        shifts,
        builtins_are_safe=not _has_star_import(module),
        imported=imported_at_module_level(ast.parse(parsed)),
    )
    # libcst's scope analysis asks ``hasattr(builtins, name)`` for every unresolved name, and for
    # ``__annotations__`` that creates ``builtins.__annotations__`` (a module's annotations dict
    # is made on first access). The transpiler runs inside the user's process, so that would make
    # ``__annotations__`` resolvable where Python raises NameError: undo it.
    had_annotations = "__annotations__" in builtins.__dict__
    try:
        cst.MetadataWrapper(module, unsafe_skip_copy=True).visit(finder)
    finally:
        if not had_annotations:
            builtins.__dict__.pop("__annotations__", None)
    return sorted(finder.insertions)


def _dropped_prefixes(lines: list[str], generated: str) -> dict[int, int]:
    """Per line, how many leading characters libcst left out of its columns.

    libcst drops the whitespace before a top-level statement when it holds a form feed (which
    Python allows: a form feed resets the indentation), so its columns on those lines are short
    by that prefix. Any other difference from the source is not expected: refuse it.
    """
    generated_lines = split_lines(generated)
    if generated_lines == lines:
        return {}
    if len(generated_lines) != len(lines):
        raise ValueError("libcst did not reproduce the source's lines; cannot rewrite it")
    shifts: dict[int, int] = {}
    for number, (original, produced) in enumerate(zip(lines, generated_lines, strict=True), 1):
        if original != produced:
            dropped = len(original) - len(produced)
            if dropped <= 0 or original[dropped:] != produced or original[:dropped].strip(" \t\f"):
                raise ValueError(f"libcst did not reproduce line {number}; cannot rewrite it")
            shifts[number] = dropped
    return shifts


def _parse(source: str) -> tuple[str, cst.Module]:
    """The text libcst parsed (the source or a same-length stand-in) and its module."""
    try:
        return source, cst.parse_module(source)
    except cst.ParserSyntaxError:
        # libcst rejects an annotated assignment to a parenthesized target, ``(x): int = 1``,
        # which Python accepts (LibCST issue #1011). Parse a same-length stand-in instead: every
        # call site keeps its position, and the insertions apply to the original text.
        stand_in = _without_parenthesized_annotations(source)
        if stand_in == source:
            raise
        return stand_in, cst.parse_module(stand_in)


def _without_parenthesized_annotations(source: str) -> str:
    """``(x): T = v`` becomes ``(x)= T, v`` (and ``(x): T`` becomes ``(x)= T``), same length.

    The stand-in evaluates the same sub-expressions at the same places, and assigns the same name,
    so libcst finds the same call sites and a scope analysis that is at least as conservative.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    lines = [list(line) for line in split_lines(source)]

    def char_column(line: int, byte_column: int) -> int:
        return len("".join(lines[line - 1]).encode("utf-8")[:byte_column].decode("utf-8"))

    def replace_first(after: ast.AST, before: ast.AST, old: str, new: str) -> None:
        """Replace the first ``old`` outside comments between two nodes (only brackets, spaces,
        comments and line continuations separate them)."""
        line, column = after.end_lineno, char_column(after.end_lineno, after.end_col_offset)
        end_line, end_column = before.lineno, char_column(before.lineno, before.col_offset)
        while (line, column) < (end_line, end_column):
            text = lines[line - 1]
            if column >= len(text) or text[column] == "#":
                line, column = line + 1, 0
                continue
            if text[column] == old:
                text[column] = new
                return
            column += 1

    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and (node.lineno, node.col_offset) != (
            node.target.lineno,
            node.target.col_offset,
        ):
            replace_first(node.target, node.annotation, ":", "=")
            if node.value is not None:
                replace_first(node.annotation, node.value, "=", ",")
    return "".join("".join(line) for line in lines)
