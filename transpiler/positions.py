"""Compile rewritten source so that its code objects carry the original source positions.

Python 3.11 tracebacks underline the failing expression with column positions taken from the code
object and text taken from the file on disk. Rewritten code has shifted columns, so each AST node's
columns are mapped back through the insertions before compiling: tracebacks, ``inspect`` and
warnings then show exactly what plain ``python`` shows.
"""

from __future__ import annotations

import ast
import symtable
from types import CodeType

from .insertions import RESOLVER, Insertion, split_lines


def _byte_insertions(
    original: str, insertions: list[Insertion]
) -> dict[int, list[tuple[int, int]]]:
    """Per line: (original UTF-8 column, inserted length) pairs, in insertion order."""
    lines = split_lines(original)
    per_line: dict[int, list[tuple[int, int]]] = {}
    for insertion in insertions:
        text = lines[insertion.line - 1]
        column = len(text[: insertion.column].encode("utf-8"))
        replaced = len(text[insertion.column : insertion.column + insertion.replaces].encode())
        length = len(insertion.text.encode("utf-8")) - replaced
        if length:
            per_line.setdefault(insertion.line, []).append((column, length))
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
    nodes = _located_nodes(tree)
    per_line = _byte_insertions(original, insertions)
    if per_line:
        for node in nodes:
            start_line = node.lineno
            if start_line in per_line and node.col_offset is not None:
                node.col_offset = _original_column(per_line[start_line], node.col_offset)
            end_line = node.end_lineno
            if end_line in per_line and node.end_col_offset is not None:
                node.end_col_offset = _original_column(per_line[end_line], node.end_col_offset)
    _locate_method_calls_like_python(nodes, original, filename)
    return compile(tree, filename, "exec", dont_inherit=True)


def compile_tree(
    original: str, tree: ast.Module, wrapped: list[ast.Call], filename: str
) -> CodeType:
    """Compile the original's ``tree`` in which the calls ``wrapped`` were rewritten: the same
    code as ``compile_rewritten`` gives for the rewritten text, without parsing it again."""
    nodes = _located_nodes(tree) if RESOLVER in original else wrapped
    _locate_method_calls_like_python(nodes, original, filename)
    return compile(tree, filename, "exec", dont_inherit=True)


# Fields that hold no located node (expression contexts and operators are shared singletons).
_UNLOCATED_FIELDS = frozenset({"ctx", "op", "ops"})


def _located_nodes(tree: ast.Module) -> list[ast.AST]:
    """Every node of ``tree`` that has a position: ``ast.walk`` without its generator layers,
    which took a third of the time to compile a large file."""
    nodes: list[ast.AST] = []
    stack: list[ast.AST] = list(tree.body)
    pop, push, extend, AST = stack.pop, stack.append, stack.extend, ast.AST
    while stack:
        node = pop()
        for field in node._fields:
            if field in _UNLOCATED_FIELDS:
                continue
            child = getattr(node, field, None)
            if type(child) is list:
                extend(item for item in child if isinstance(item, AST))
            elif isinstance(child, AST):
                push(child)
        if "lineno" in node._attributes:
            nodes.append(node)
    return nodes


# CPython does not optimize a method call with this many arguments (compile.c).
_STACK_USE_GUIDELINE = 30


def _locate_method_calls_like_python(nodes: list[ast.AST], original: str, filename: str) -> None:
    """Give rewritten method calls that span lines the location Python gives them.

    CPython compiles ``obj.name(args)`` as a method call and moves the call's start to the line
    and column of ``name`` when that is on a later line than the call's start (``.name(`` in a
    chain spread over lines is what a traceback underlines). ``__dp__(obj.name)(args)`` is a
    plain call, so its location is moved here the same way, under the same conditions.
    """
    calls = []
    for node in nodes:
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Call)
            and isinstance(node.func.func, ast.Name)
            and node.func.func.id == RESOLVER
            and len(node.func.args) == 1
            and isinstance(node.func.args[0], ast.Attribute)
            and node.lineno != node.func.args[0].end_lineno
            and not any(isinstance(a, ast.Starred) for a in node.args)
            and not any(k.arg is None for k in node.keywords)
            and len(node.args) + len(node.keywords) + bool(node.keywords) < _STACK_USE_GUIDELINE
        ):
            calls.append(node)
    if not calls:
        return
    imported = {s.get_name() for s in _module_symbols(original, filename) if s.is_imported()}
    for call in calls:
        attribute = call.func.args[0]
        if isinstance(attribute.value, ast.Name) and attribute.value.id in imported:
            continue  # not compiled as a method call
        length = len(attribute.attr)
        if length > attribute.end_col_offset:
            continue
        call.lineno, call.col_offset = attribute.end_lineno, attribute.end_col_offset - length
        call.end_lineno = max(call.lineno, call.end_lineno)
        if call.lineno == call.end_lineno:
            call.end_col_offset = max(call.col_offset, call.end_col_offset)


def _module_symbols(source: str, filename: str) -> list[symtable.Symbol]:
    return symtable.symtable(source, filename, "exec").get_symbols()
