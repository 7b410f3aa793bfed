"""The ast call-site finder against the libcst one it replaced: the same insertions, always.

``rewrite`` finds call sites with ``ast`` and a scope pass that reproduces libcst's decisions; the
libcst finder (``cst_finder``) stays as the fallback for what that pass does not model. Here both
run over targeted snippets (every scope rule and quirk), over the transpiler's own tests and, under
the ``corpus`` marker, over a quarter of CPython's ``test`` package (every module with
``DP_FINDER_CORPUS=all``). The same sources also hold the two ways of compiling to the same code:
the rewrite made in the original's tree (``compile_tree``) and the rewritten text parsed with its
columns mapped back.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from types import CodeType

import pytest

from durable_python.transpiler import cst_finder, decode, insertions, positions, rewrite

SNIPPETS = {
    "scopes": (
        "def f(): pass\nclass C: pass\n@d\ndef g(): pass\nf(); C(); g(); h(); len(x); print(x)\n"
        "def outer():\n    f = 1\n    def inner():\n        return f()\n    class K:\n"
        "        def f(self): pass\n        x = [f() for _ in range(3)]\n        f()\n"
        "    return f(), len(f)\n"
    ),
    "rebinding": (
        "def a(): pass\ndef a(): pass\ndef b(): pass\nb = b\ndef c(): pass\nfor c in x: pass\n"
        "def e(): pass\ntry:\n    pass\nexcept E as e:\n    pass\nimport f\nfrom m import g\n"
        "def h(): pass\nwith w() as h: pass\na(); b(); c(); e(); f(); g(); h()\n"
    ),
    "libcst quirks": (
        "def m(): pass\nmatch x:\n    case m:\n        pass\nm()\n"
        "def d(): pass\ndel d\nd()\n"
        "def w(): pass\n[(w := 1) for _ in y]\nw()\n"
        "def v(): pass\n(v := 2)\nv()\n"
    ),
    "global and nonlocal": (
        "def f(): pass\ndef g():\n    global f\n    f = 1\n    f()\ndef h():\n    global k\n"
        "    def k(): pass\n    k()\nk()\ndef n():\n    def p(): pass\n    def q():\n"
        "        nonlocal p\n        p = 2\n    p(); q()\n"
        "class K:\n    global z\n    def z(): pass\n    z()\n"
    ),
    "parameters and defaults": (
        "def f(): pass\ndef g(f=f(), *, k=len(x), **kw): return f()\n"
        "lambda f=f(): f()\nclass C:\n    def f(): pass\n    def m(self, a=f()): f()\n"
    ),
    "comprehensions": (
        "def f(): pass\nclass C:\n    def f(): pass\n    x = [f() for i in f() if f()]\n"
        "    y = {f(): f() for i in f() for j in f()}\n    z = (i(j) for i in k for j in i())\n"
    ),
    "star import": "from os import *\nlen(x)\ndef f(): pass\nf()\n",
    "star import elsewhere": "if x:\n    from os import *\nlen(x)\n",
    "parentheses and chains": (
        "(f)(1); ((f))(2); ( f )(3); (g(1))(2)(3); (a.b)(c); (\n  f\n)(4); (f  # (\n)(5)\n"
        "def g():\n    (yield)()\na . b (1); x[0](2); (lambda: 0)(); (x for x in y)(); f\\\n(1)\n"
    ),
    "f-strings": (
        "s = 'x'\nf'{s.upper()=}'\nf'{ s.upper() = !r:>9}|{s.upper()=:>4}|{s.upper()=!s}'\n"
        "f\"{s.replace('o', '{}')=}\"\nf'''{s\n  .upper()\n  =}'''\nrf'{s.upper()=}\\n'\n"
        "rf'{s.count(\"o\")=}'\nf'{f\"{s.upper()=}\"=}'\nf'{\"ü\".upper()=} {s.upper()=}'\n"
        "f'{x:{g()}}{len(s)=}{(g)()=}{s.upper()=:}' 'a' f'{s.strip() = }'\n"
    ),
    "non-ascii columns": "é = 'ü'; print(é.upper(), 'ß'.lower()(), f'{é.title()}')\n",
    "form feeds": "\fx = abs(-1)\n  \fy = str(x).zfill(3)\nif x:\n\f    z = (x, y.upper())\n",
    "parenthesized annotation": "(x): int = make(1)\nclass K:\n    (a): list[make(int)] = f()\n",
    "typing calls": "from typing import TypeVar, cast\nT = TypeVar('T', bound=int)\ncast(int, f())\n",
    "method calls": (
        "import os\nfrom a import b as c\nclass K:\n    def __p(self): pass\n"
        "    def m(self):\n        return self.__p(), self.n(), super().m(), c.d(), os.getcwd()\n"
        "def f():\n    import re\n    return re.compile('x').match('x')\n"
        "(k.m)(1); (k + j).m(2); (q\n  # a comment\n  .m(3)); f'{k.m()}'; x.y.z(*a, **kw)\n"
    ),
}


def _constant(value: object) -> object:
    """A constant as compared: by repr (a NaN is not equal to itself), a frozenset's elements
    sorted (the two ways of compiling may lay one out differently; what runs is the code
    from the cache, unmarshalled, whichever way made it)."""
    if isinstance(value, frozenset):
        return ("frozenset", sorted(map(repr, value)))
    if isinstance(value, tuple):
        return tuple(map(_constant, value))
    return repr(value)


def _code(code: CodeType) -> list[tuple]:
    """What a code object and those nested in it do, and where (every instruction's position)."""
    facts, stack = [], [code]
    while stack:
        code = stack.pop()
        constants = [_constant(c) for c in code.co_consts if not isinstance(c, CodeType)]
        facts.append(
            (code.co_qualname, code.co_code, list(code.co_positions()), code.co_names, constants)
        )
        stack.extend(c for c in code.co_consts if isinstance(c, CodeType))
    return facts


def _compare(source: str, may_fall_back: bool = True) -> None:
    """Both finders give the same insertions; both ways of compiling give the same code. A source
    the ast finder leaves to libcst is trivially the same, unless ``may_fall_back`` is false."""
    try:
        finder = rewrite._AstFinder(source)
        ours = finder.insertions()
    except rewrite._Unsupported:
        if not may_fall_back:
            raise
        return
    assert ours == cst_finder.find_insertions(source)
    rewritten = insertions.apply_insertions(source, ours)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from_text = positions.compile_rewritten(source, rewritten, ours, "<s>")
        from_tree = positions.compile_tree(source, finder.tree, finder.wrap_calls(), "<s>")
    assert _code(from_tree) == _code(from_text)


@pytest.mark.parametrize("name", SNIPPETS)
def test_snippets_give_the_libcst_insertions(name):
    _compare(SNIPPETS[name], may_fall_back=False)


@pytest.mark.parametrize(
    "source",
    [
        "def f(): pass\nx: 'def f(): pass' = 1\nf()\n",  # libcst binds what a string annotation defines
        "from typing import TypeVar\nT = TypeVar(f())\n",  # libcst skips TypeVar's first argument
        "def f(): pass\n(f  # (\n)(1)\n(  # )\n  g)(2)\n",  # parentheses around a commented line
    ],
)
def test_what_the_ast_finder_does_not_model_goes_to_libcst(source):
    with pytest.raises(rewrite._Unsupported):
        rewrite._AstFinder(source).insertions()
    assert rewrite.find_insertions(source) == cst_finder.find_insertions(source)


def _compare_file(path: Path) -> None:
    try:
        text = decode(path.read_bytes(), str(path))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(text, str(path), "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        pytest.skip("not valid Python 3.11")
    _compare(text)


TESTS = Path(__file__).parent


@pytest.mark.parametrize("path", sorted(TESTS.glob("test_transpiler_*.py")), ids=lambda p: p.name)
def test_transpiler_tests_give_the_libcst_insertions(path):
    _compare_file(path)


def _stdlib_tests() -> list[Path]:
    try:
        import test
    except ImportError:
        return []
    every = sorted(Path(os.path.dirname(test.__file__)).rglob("*.py"))
    # All 800 files take the libcst finder 15 minutes of CPU; a fixed quarter of them (spread
    # over the package) keeps the suite short. DP_FINDER_CORPUS=all compares every file.
    return every if os.environ.get("DP_FINDER_CORPUS") == "all" else every[::4]


@pytest.mark.corpus
@pytest.mark.parametrize("path", _stdlib_tests(), ids=lambda p: str(p).rsplit("/test/", 1)[-1])
def test_stdlib_tests_give_the_libcst_insertions(path):
    _compare_file(path)
