"""Find every call site ``f(args)`` and rewrite it to ``__dp__(f)(args)``.

The runtime's resolver ``__dp__`` sees the callable before the arguments are evaluated and returns
either the callable itself (run inline, from the user's own frame) or a recording wrapper. Calls whose
target is known at rewrite time to be the script's own code or a pure builtin stay plain calls: they
would resolve to themselves anyway, and skipping the resolver keeps call-heavy code fast.

A method call ``obj.name(args)`` becomes ``__dp__(obj, 'name').name(args)`` (see
``insertions.is_method_call_form``). The rewrite only inserts text (``__dp__(`` before a callee,
``)`` or ``, 'name')`` after it or its object) and never removes or moves any, so line numbers stay
as they were and ``positions.py`` can map columns back exactly.

Call sites are found with the standard library's ``ast`` (CPython's own parser, in C) and a light
scope pass over its tree, not with libcst as the design first had it: libcst's parse, scope
analysis and position metadata took 9 s for a 10,000-line file (each first run of such a script
paid it), the ast finder takes 0.2 s. Its decisions are libcst's, reproduced rule for rule (its
scopes, what it counts as an assignment, its quirks: a ``match`` capture or a ``del`` is not an
assignment, a walrus in a comprehension assigns in the comprehension), so the rewritten text is
exactly what the libcst finder produced; ``tests/test_transpiler_finders.py`` holds the two to the
same output over CPython's test suite. The few constructs whose libcst decision this pass does not
reproduce (see ``_Unsupported``) send the whole file to the libcst finder in ``cst_finder.py``.

The same pass makes the rewrite in the original's tree too (``Rewrite.tree``), so compiling needs no
second parse of the rewritten text (``positions.compile_tree``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

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


@dataclass
class Rewrite:
    """The insertions for a source, and its ast with the same rewrite made in the tree.

    ``tree`` (``None`` when the libcst fallback found the call sites) is what compiling the
    rewritten text with its columns mapped back gives, without parsing that text again; the
    calls it wraps are ``wrapped``.
    """

    insertions: list[Insertion]
    tree: ast.Module | None = None
    wrapped: list[ast.Call] = field(default_factory=list)


def find_insertions(source: str) -> list[Insertion]:
    """Return the insertions that route every dynamic call site of ``source`` through the resolver."""
    return rewrite(source).insertions


def rewrite(source: str) -> Rewrite:
    """Find the dynamic call sites of ``source``: the insertions, and the tree when ast found them."""
    try:
        finder = _AstFinder(source)
        insertions = finder.insertions()
    except _Unsupported:
        from . import cst_finder

        return Rewrite(cst_finder.find_insertions(source))
    return Rewrite(insertions, finder.tree, finder.wrap_calls())


class _Unsupported(Exception):
    """A construct whose libcst decision the ast finder does not reproduce: libcst decides.

    These are: a string that libcst would read as an annotation and that defines, imports or
    declares a name the file calls (libcst parses string annotations and records what they
    bind); a call inside the first argument of a possible ``typing.TypeVar``/``NewType`` call
    (libcst's scope pass skips that argument); a parenthesized callee whose parentheses span a
    line with a comment; positions inside an f-string that CPython 3.11 reports wrongly.
    """


_GLOBAL, _FUNCTION, _CLASS, _COMPREHENSION = range(4)


class _Scope:
    """One of libcst's scopes: what it binds and which names ``global``/``nonlocal`` send away."""

    __slots__ = ("kind", "parent", "bindings", "overwrites")

    def __init__(self, kind: int, parent: _Scope | None) -> None:
        self.kind = kind
        self.parent = parent
        # Per name, one entry per assignment: whether it is an undecorated def or class.
        self.bindings: dict[str, list[bool]] = {}
        self.overwrites: dict[str, _Scope] = {}

    def bind(self, name: str, static: bool = False) -> None:
        """Record an assignment where libcst records it (following global/nonlocal)."""
        scope = self
        while name in scope.overwrites:
            scope = _visible(scope.overwrites[name])
        scope.bindings.setdefault(name, []).append(static)

    def resolve(self, name: str) -> list[bool] | None:
        """The assignments ``name`` resolves to from here, or ``None`` for the builtins."""
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.overwrites:
                scope = _visible(scope.overwrites[name])
                continue
            found = scope.bindings.get(name)
            if found:
                return found
            scope = _visible(scope.parent) if scope.parent is not None else None
        return None


def _visible(scope: _Scope) -> _Scope:
    """Class scopes are invisible to the scopes nested in them (libcst, as Python)."""
    while scope.kind == _CLASS:
        scope = scope.parent  # type: ignore[assignment]
    return scope


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
# Calls whose arguments libcst treats specially (if they are typing's): the first argument of
# ``TypeVar``/``NewType`` is not visited, string arguments are read as annotations.
_TYPING_CALLS = frozenset({"TypeVar", "NewType", "cast"})
# What a string must mention for libcst to find a binding in it when it reads it as an annotation.
_BINDING_WORD = re.compile(r"\b(?:def|class|import|global|nonlocal|type)\b")
_WORD = re.compile(r"[^\W\d]\w*")
_CALL, _ENTER, _LEAVE = range(3)


class _AstFinder:
    """One pass over the ast: scopes and bindings, call sites, f-string expressions, in order."""

    def __init__(self, source: str) -> None:
        self.tree = ast.parse(source)
        self.imported = imported_at_module_level(self.tree)
        self.lines = split_lines(source)
        self._ascii = [line.isascii() for line in self.lines]
        self.events: list[tuple] = []
        self.strings: list[str] = []
        self.callee_names: set[str] = set()
        self.typing_names = set(_TYPING_CALLS)
        # Per rewritten call: where its insertions start, the call, its callee's extent, and
        # where ``, 'name')`` goes in the method-call form (else ``None``).
        self.wrapped: list[
            tuple[int, ast.Call, tuple[int, int], tuple[int, int], tuple[int, int] | None]
        ] = []

    # -- the walk ---------------------------------------------------------------------------

    def _walk(self) -> None:
        """Visit every node in libcst's order, each with the scope libcst gives it."""
        module = _Scope(_GLOBAL, None)
        stack: list[tuple] = [(self.tree, module, None, False)]
        events = self.events
        pop, push = stack.pop, stack.append
        while stack:
            node, scope, joined, hint = pop()
            kind = type(node)
            if kind is ast.Call:
                events.append((_CALL, node, scope, joined))
                func = node.func
                name = func.id if type(func) is ast.Name else getattr(func, "attr", None)
                if type(func) is ast.Name:
                    self.callee_names.add(name)
                typing = name in self.typing_names
                if typing and name != "cast":
                    self._check_typing_call(node)
                for child in reversed(node.keywords):
                    push((child, scope, joined, hint or typing))
                for child in reversed(node.args):
                    push((child, scope, joined, hint or typing))
                push((func, scope, joined, hint))
            elif kind is ast.Name:
                if type(node.ctx) is ast.Store:
                    scope.bind(node.id)
            elif kind is ast.Constant:
                value = node.value
                if isinstance(value, bytes):
                    value = value.decode("latin-1")
                if hint and isinstance(value, str) and _BINDING_WORD.search(value):
                    self.strings.append(value)
            elif kind is ast.Expr and type(node.value) is ast.Constant:
                pass  # a docstring or a bare constant: libcst never reads it as an annotation
            elif kind is ast.JoinedStr:
                for child in reversed(node.values):
                    if type(child) is ast.FormattedValue:
                        push((child, scope, node, hint))
            elif kind is ast.FormattedValue:
                events.append((_ENTER, node, scope, joined))
                push((None, node, joined, hint))  # the leave marker
                if node.format_spec is not None:
                    for child in reversed(node.format_spec.values):
                        if type(child) is ast.FormattedValue:
                            push((child, scope, joined, hint))
                push((node.value, scope, joined, hint))
            elif node is None:
                events.append((_LEAVE, scope, None, joined))
            elif kind in _FUNCTIONS:
                scope.bind(node.name, not node.decorator_list)
                inner = _Scope(_FUNCTION, scope)
                push((node.body, inner, None, hint))
                self._push_arguments(node.args, scope, inner, None, hint, push)
                if node.returns is not None:
                    push((node.returns, scope, None, True))
                for child in reversed(node.decorator_list):
                    push((child, scope, None, hint))
            elif kind is ast.ClassDef:
                scope.bind(node.name, not node.decorator_list)
                push((node.body, _Scope(_CLASS, scope), None, hint))
                for child in reversed(node.keywords):
                    push((child, scope, None, hint))
                for child in reversed(node.bases):
                    push((child, scope, None, hint))
                for child in reversed(node.decorator_list):
                    push((child, scope, None, hint))
            elif kind is ast.Lambda:
                inner = _Scope(_FUNCTION, scope)
                push((node.body, inner, joined, hint))
                self._push_arguments(node.args, scope, inner, joined, hint, push)
            elif kind in _COMPREHENSIONS:
                inner = _Scope(_COMPREHENSION, scope)
                if kind is ast.DictComp:
                    push((node.value, inner, joined, hint))
                    push((node.key, inner, joined, hint))
                else:
                    push((node.elt, inner, joined, hint))
                generators = node.generators
                for index in range(len(generators) - 1, -1, -1):
                    generator = generators[index]
                    push((generator.ifs, inner, joined, hint))
                    push((generator.iter, scope if index == 0 else inner, joined, hint))
                    push((generator.target, inner, joined, hint))
            elif kind is list:
                for child in reversed(node):
                    if isinstance(child, ast.AST):
                        push((child, scope, joined, hint))
            elif kind is ast.Global:
                if scope.kind != _GLOBAL:
                    for name in node.names:
                        scope.overwrites[name] = module
            elif kind is ast.Nonlocal:
                if scope.parent is not None:
                    for name in node.names:
                        scope.overwrites[name] = scope.parent
            elif kind is ast.Import or kind is ast.ImportFrom:
                for alias in node.names:
                    if alias.name == "*":
                        continue
                    bound = alias.asname or alias.name.partition(".")[0]
                    scope.bind(bound)
                    if kind is ast.ImportFrom and alias.name in _TYPING_CALLS:
                        self.typing_names.add(bound)
            elif kind is ast.AnnAssign:
                if node.value is not None:
                    push((node.value, scope, joined, hint))
                push((node.annotation, scope, joined, True))
                push((node.target, scope, joined, hint))
            elif kind is ast.Subscript and type(node.value) is ast.Name:
                push((node.slice, scope, joined, True))
                push((node.value, scope, joined, hint))
            elif kind is ast.ExceptHandler:
                if node.name is not None:
                    scope.bind(node.name)
                push((node.body, scope, None, hint))
                if node.type is not None:
                    push((node.type, scope, None, hint))
            else:
                for field in reversed(node._fields):
                    child = getattr(node, field)
                    if child is not None and type(child) not in _LEAVES:
                        push((child, scope, joined, hint))

    @staticmethod
    def _push_arguments(
        args: ast.arguments,
        outer: _Scope,
        inner: _Scope,
        joined: ast.JoinedStr | None,
        hint: bool,
        push,
    ) -> None:
        """Parameters bind in the function; defaults and annotations belong to ``outer``."""
        everything = [*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs, args.kwarg]
        for arg in everything:
            if arg is not None:
                inner.bind(arg.arg)
        for arg in reversed(everything):
            if arg is not None and arg.annotation is not None:
                push((arg.annotation, outer, joined, True))
        for default in reversed([*args.defaults, *args.kw_defaults]):
            if default is not None:
                push((default, outer, joined, hint))

    def _check_typing_call(self, call: ast.Call) -> None:
        """libcst does not visit the first argument of ``typing.TypeVar(...)``/``NewType(...)``."""
        arguments = [*call.args, *call.keywords]
        if not arguments:
            return
        first = min(arguments, key=lambda a: (a.lineno, a.col_offset))
        for node in ast.walk(first):
            if isinstance(node, ast.NamedExpr) or (
                isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            ):
                raise _Unsupported

    # -- decisions and positions ------------------------------------------------------------

    def insertions(self) -> list[Insertion]:
        self._walk()
        self._check_strings()
        builtins_are_safe = not any(
            isinstance(statement, ast.ImportFrom) and statement.names[0].name == "*"
            for statement in self.tree.body
        )
        insertions: list[Insertion] = []
        firsts: list[int] = []
        for event, node, scope, joined in self.events:
            if event == _CALL:
                func = node.func
                if type(func) is ast.Name:
                    found = scope.resolve(func.id)
                    if found is None:
                        if builtins_are_safe and func.id in STATIC_BUILTINS:
                            continue
                    elif len(found) == 1 and found[0]:
                        continue
                if joined is not None:
                    self._check_fstring_position(func)
                start, end = self._parenthesized(func)
                method_at = self._method_call_at(func, start, joined)
                self.wrapped.append((len(insertions), node, start, end, method_at))
                insertions.append(Insertion(*start, 1, RESOLVER + "("))
                if method_at is None:
                    insertions.append(Insertion(*end, 0, ")"))
                else:
                    insertions.append(Insertion(*method_at, 0, f", {func.attr!r})"))
            elif event == _ENTER:
                firsts.append(len(insertions))
            else:
                first = firsts.pop()
                if len(insertions) != first and not self._spell_out(node, joined, insertions):
                    del insertions[first:]  # cannot be spelled out: leave its calls as they are
                    while self.wrapped and self.wrapped[-1][0] >= first:
                        self.wrapped.pop()
        return sorted(insertions)

    def _method_call_at(
        self, func: ast.expr, start: tuple[int, int], joined: ast.JoinedStr | None
    ) -> tuple[int, int] | None:
        """Where ``, 'name')`` goes when ``func`` is rewritten in the method-call form: right
        after its object and the object's parentheses; ``None`` for the one-argument form."""
        if type(func) is not ast.Attribute or joined is not None:
            return None
        if start != (func.lineno, self._column(func.lineno, func.col_offset)):
            return None  # ``(obj.name)(args)``: the callee is parenthesized
        value = func.value
        if not is_method_call_form(
            func.attr, value.id if type(value) is ast.Name else None, self.imported
        ):
            return None
        return self._after(value.end_lineno, self._column(value.end_lineno, value.end_col_offset))[
            0
        ]

    def wrap_calls(self) -> list[ast.Call]:
        """Make the rewrite in the tree: each rewritten call's callee becomes ``__dp__(callee)``,
        located where mapping the rewritten text's columns back puts it (``positions.py``): the
        resolver's name at the callee's start, the inner call over the parenthesized callee.
        The original's nodes keep their own positions, which is what that mapping gives them."""
        calls = []
        for _, call, (line, column), (end_line, end_column), method_at in self.wrapped:
            start = self._byte_column(line, column)
            end = self._byte_column(end_line, end_column)
            resolver = ast.Name(RESOLVER, ast.Load(), lineno=line, col_offset=start)
            resolver.end_lineno, resolver.end_col_offset = line, start
            calls.append(call)
            if (
                method_at is not None
            ):  # ``__dp__(obj, 'name').name``: the inner call ends at obj's end
                dot_line, dot = method_at[0], self._byte_column(*method_at)
                name = ast.Constant(call.func.attr, lineno=dot_line, col_offset=dot)
                name.end_lineno, name.end_col_offset = dot_line, dot
                call.func.value = ast.Call(
                    resolver,
                    [call.func.value, name],
                    [],
                    lineno=line,
                    col_offset=start,
                    end_lineno=dot_line,
                    end_col_offset=dot,
                )
                continue
            call.func = ast.Call(
                resolver,
                [call.func],
                [],
                lineno=line,
                col_offset=start,
                end_lineno=end_line,
                end_col_offset=end,
            )
        return calls

    def _check_strings(self) -> None:
        """A string that defines, imports or declares a called name: libcst may bind it."""
        for text in self.strings:
            if not self.callee_names.intersection(_WORD.findall(text)):
                continue
            try:
                parsed = ast.parse(text)
            except (SyntaxError, ValueError):
                if re.search(r"\btype\s", text):
                    raise _Unsupported from None  # a PEP 695 alias, which libcst parses
                continue
            for node in ast.walk(parsed):
                if isinstance(
                    node,
                    (
                        *_FUNCTIONS,
                        ast.ClassDef,
                        ast.Import,
                        ast.ImportFrom,
                        ast.Global,
                        ast.Nonlocal,
                    ),
                ):
                    raise _Unsupported

    def _byte_column(self, line: int, column: int) -> int:
        """ast's UTF-8 byte offset of a character column."""
        if self._ascii[line - 1]:
            return column
        return len(self.lines[line - 1][:column].encode("utf-8"))

    def _column(self, line: int, byte_column: int) -> int:
        """A character column from ast's UTF-8 byte offset."""
        if self._ascii[line - 1]:
            return byte_column
        return len(self.lines[line - 1].encode("utf-8")[:byte_column].decode("utf-8"))

    def _parenthesized(self, node: ast.expr) -> tuple[tuple[int, int], tuple[int, int]]:
        """``node``'s start and end with the parentheses around it (libcst's extent of it)."""
        end, count, _ = self._after(
            node.end_lineno, self._column(node.end_lineno, node.end_col_offset)
        )
        line, column = node.lineno, self._column(node.lineno, node.col_offset)
        start = (line, column)
        while count:
            column -= 1
            if column < 0:
                line -= 1
                if "#" in self.lines[line - 1]:
                    raise _Unsupported  # a comment in the parentheses: no backward scan
                column = len(self.lines[line - 1])
                continue
            char = self.lines[line - 1][column]
            if char == "(":
                count -= 1
                start = (line, column)
            elif char not in " \t\f\r\n\\":
                raise _Unsupported
        return start, end

    def _after(self, line: int, column: int) -> tuple[tuple[int, int], int, tuple[int, int]]:
        """From an expression's end: its end after any closing parentheses, how many there
        are, and the position of the first character after them that is not blank."""
        end, count = (line, column), 0
        while True:
            text = self.lines[line - 1]
            while column < len(text):
                char = text[column]
                if char == ")":
                    count += 1
                    column += 1
                    end = (line, column)
                elif char in " \t\f\r\n\\":
                    column += 1
                elif char == "#":
                    break
                else:
                    return end, count, (line, column)
            line, column = line + 1, 0
            if line > len(self.lines):
                raise _Unsupported

    def _check_fstring_position(self, func: ast.expr) -> None:
        """CPython 3.11 may misplace nodes inside f-strings: check the text says what ast does."""
        start = (func.lineno, self._column(func.lineno, func.col_offset))
        end = (func.end_lineno, self._column(func.end_lineno, func.end_col_offset))
        try:
            parsed = ast.parse("(" + text_between(self.lines, start, end) + "\n)", mode="eval").body
        except SyntaxError:
            raise _Unsupported from None
        if ast.dump(parsed) != ast.dump(func):
            raise _Unsupported

    def _spell_out(
        self, value: ast.FormattedValue, joined: ast.JoinedStr, insertions: list[Insertion]
    ) -> bool:
        """``f"{expr=}"`` shows the text of ``expr``: when a call in it was rewritten, spell the
        original text out, so ``{expr=}`` becomes ``expr={expr !r}`` and ``{expr=!s:>9}``
        becomes ``expr={expr !s:>9}`` (the ``=`` is replaced by a space: columns stay put).
        False when it cannot be (a raw f-string showing a quote or backslash)."""
        expression = value.value
        _, _, equal_at = self._after(
            expression.end_lineno, self._column(expression.end_lineno, expression.end_col_offset)
        )
        if self.lines[equal_at[0] - 1][equal_at[1]] != "=":
            return True  # not a self-documenting expression: nothing to spell out
        (line, column), _ = self._parenthesized(expression)
        # Back from the expression to its "{" (only blanks in between: no comments in 3.11).
        while True:
            column -= 1
            if column < 0:
                line -= 1
                column = len(self.lines[line - 1])
                continue
            char = self.lines[line - 1][column]
            if char == "{":
                break
            if char not in " \t\f\r\n":
                raise _Unsupported
        shown_end = skip_whitespace(self.lines, equal_at[0], equal_at[1] + 1)
        shown = text_between(self.lines, (line, column + 1), shown_end)
        raw = "r" in self._prefix_at(joined, (line, column)).lower()
        if raw and any(c in shown for c in "\\'\"\n"):
            return False
        if raw:
            literal = shown.replace("{", "{{").replace("}", "}}")
        else:
            literal = "".join(FSTRING_ESCAPES.get(c, c) for c in shown)
        insertions.append(Insertion(line, column, 2, literal))
        insertions.append(Insertion(*equal_at, 2, " ", replaces=1))
        if self.lines[shown_end[0] - 1][shown_end[1]] == "}":
            insertions.append(Insertion(*shown_end, 2, "!r"))
        return True

    def _prefix_at(self, joined: ast.JoinedStr, position: tuple[int, int]) -> str:
        """The prefix (``f``, ``rf``, ...) of the literal of ``joined`` that holds ``position``."""
        line, column = joined.lineno, self._column(joined.lineno, joined.col_offset)
        end = (joined.end_lineno, self._column(joined.end_lineno, joined.end_col_offset))
        while (line, column) < end:
            text = self.lines[line - 1]
            if column >= len(text) or text[column] == "#":
                line, column = line + 1, 0
                continue
            if text[column] in " \t\f\r\n\\":
                column += 1
                continue
            prefix_start = column
            while text[column].isalpha():
                column += 1
            prefix = text[prefix_start:column]
            quote = text[column : column + 3]
            if quote not in ('"""', "'''"):
                quote = text[column]
                if quote not in "'\"":
                    raise _Unsupported
            start = (line, column)
            column += len(quote)
            while True:  # to the closing quote
                text = self.lines[line - 1]
                if column >= len(text):
                    line, column = line + 1, 0
                    if line > len(self.lines):
                        raise _Unsupported
                elif text[column] == "\\":
                    column += 2
                elif text.startswith(quote, column):
                    column += len(quote)
                    break
                else:
                    column += 1
            if start < position < (line, column):
                return prefix
        raise _Unsupported


# Field values the walk never needs to visit.
_LEAVES = frozenset({str, int, bytes, bool, float, complex, type(...)}) | {
    ast.Load,
    ast.Store,
    ast.Del,
}
