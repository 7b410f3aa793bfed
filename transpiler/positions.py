"""Compile rewritten source so that its code objects carry the original source positions.

Python 3.11 tracebacks underline the failing expression with column positions taken from the code
object and text taken from the file on disk. Rewritten code has shifted columns, so each AST node's
columns are mapped back through the insertions before compiling: tracebacks, ``inspect`` and
warnings then show exactly what plain ``python`` shows.
"""

from __future__ import annotations

import ast
from types import CodeType

from .rewrite import Insertion, split_lines


def _byte_insertions(original: str, insertions: list[Insertion]) -> dict[int, list[tuple[int, int]]]:
    """Per line: (original UTF-8 column, inserted length) pairs, in insertion order."""
    lines = split_lines(original)
    per_line: dict[int, list[tuple[int, int]]] = {}
    for insertion in insertions:
        text = lines[insertion.line - 1]
        column = len(text[: insertion.column].encode("utf-8"))
        per_line.setdefault(insertion.line, []).append((column, len(insertion.text)))
    return per_line


def _original_column(line_insertions: list[tuple[int, int]], column: int) -> int:
    shift = 0
    for original_column, length in line_insertions:
        start = original_column + shift
        if column < start:
            break
        if column < start + length:
            return original_column
        shift += length
    return column - shift


def compile_rewritten(
    original: str, rewritten: str, insertions: list[Insertion], filename: str
) -> CodeType:
    """Compile ``rewritten`` with every node's columns mapped back to ``original``."""
    tree = ast.parse(rewritten, filename)
    per_line = _byte_insertions(original, insertions)
    if per_line:
        for node in ast.walk(tree):
            start_line = getattr(node, "lineno", None)
            if start_line is None:
                continue
            if start_line in per_line and node.col_offset is not None:
                node.col_offset = _original_column(per_line[start_line], node.col_offset)
            end_line = node.end_lineno
            if end_line in per_line and node.end_col_offset is not None:
                node.end_col_offset = _original_column(per_line[end_line], node.end_col_offset)
    return compile(tree, filename, "exec", dont_inherit=True)
