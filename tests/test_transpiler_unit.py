"""In-process unit tests of the transpiler: one per rewrite rule and per bug found by the corpus."""

from __future__ import annotations

import builtins
import hashlib
import io
import traceback
import warnings

import pytest

from durable_python.transpiler import cache, compile_source, decode, load_code, transpile


@pytest.fixture
def identity_resolver():
    previous = builtins.__dict__.get("__dp__")
    builtins.__dp__ = lambda f, *name: f  # a method call's form gives obj back
    yield
    if previous is None:
        del builtins.__dp__
    else:
        builtins.__dp__ = previous


def run_both(source: str, filename: str = "<unit>") -> tuple[object, object]:
    """Run original and rewritten; each gives its namespace's ``result`` or the error's text."""
    outcomes = []
    for code in (
        compile(source, filename, "exec", dont_inherit=True),
        compile_source(source.encode(), filename),
    ):
        namespace: dict = {}
        try:
            exec(code, namespace)
            outcomes.append(namespace.get("result"))
        except Exception as exc:  # noqa: BLE001 - compared
            frames = traceback.extract_tb(exc.__traceback__)[1:]
            outcomes.append(
                (repr(exc), [(f.lineno, f.end_lineno, f.colno, f.end_colno) for f in frames])
            )
    return outcomes[0], outcomes[1]


def test_calls_are_wrapped_and_static_ones_are_not():
    source = "import os\ndef f(x):\n    return x\nprint(f(len('a')), os.getcwd(), (g)(1)(2))\n"
    assert transpile(source) == (
        "import os\ndef f(x):\n    return x\n"
        "__dp__(print)(f(len('a')), __dp__(os.getcwd)(), __dp__(__dp__((g))(1))(2))\n"
    )


def test_bare_generator_argument_stays_valid():
    assert transpile("s.join(x for x in y)\n") == "__dp__(s, 'join').join(x for x in y)\n"


def test_parenthesized_annotation_targets_are_rewritten(identity_resolver):
    source = (
        "def make(v):\n    return v\n"
        "class K:\n    (a): int = make(1)\n    (b): list[make(int)]\n"
        "def f():\n    (x): int = make(2)\n    (\n        y  # (:\n    ): int = make(3)\n"
        "    return x + y\n"
        "(top): int = make.__call__(4)\nresult = (K.a, f(), top, __annotations__)\n"
    )
    assert "(top): int = __dp__(make, '__call__').__call__(4)" in transpile(source)
    original, rewritten = run_both(source)
    assert original == rewritten == (1, 5, 4, {})  # a parenthesized target is not recorded


def test_form_feed_before_a_statement_keeps_columns(identity_resolver):
    source = "\fx = abs(-1)\n  \fy = str(x).zfill(3)\nif x:\n\f    result = (x, y.upper())\n"
    assert transpile(source) == (
        "\fx = abs(-1)\n  \fy = __dp__(str(x), 'zfill').zfill(3)\n"
        "if x:\n\f    result = (x, __dp__(y, 'upper').upper())\n"
    )
    original, rewritten = run_both(source)
    assert original == rewritten == (1, "001")


@pytest.mark.parametrize(
    "expression",
    [
        "f'{s.upper()=}'",
        "f'{ s.upper() = !r:>9}|{s.upper()=:>4}|{s.upper()=!s}'",
        "f\"{s.replace('o', '{}')=}\"",
        "f'{s.count(\"o\")=}'",
        "f'''{s\n  .upper()\n  =}'''",
        "rf'{s.upper()=}\\n'",
        "rf'{s.count(\"o\")=}'",
        "f'{f\"{s.upper()=}\"=}'",
        "f'{\"ü\".upper()=} {s.upper()=}'",
    ],
)
def test_self_documenting_fstrings_show_the_original_text(identity_resolver, expression):
    source = f"s = 'wörld'\nresult = {expression}\n"
    original, rewritten = run_both(source)
    assert rewritten == original


def test_multiline_method_call_is_located_like_python(identity_resolver):
    source = (
        "import json\nclass Q:\n    def ok(self):\n        return self\n"
        "    def fail(self, n):\n        return 1 // n\n"
        "def g():\n    return (Q()\n        .ok()\n        .fail(\n            0))\n"
        "def h():\n    return (json\n        .loads('{'))\n"
    )
    for call in ("g()", "h()"):
        original, rewritten = run_both(source + call + "\n")
        assert rewritten == original


def test_long_operand_chains_do_not_exhaust_the_recursion_limit(identity_resolver):
    pieces = " ".join(repr(str(i)) for i in range(1500))
    terms = " + ".join("len('ab')" for _ in range(600))
    source = f"x = ({pieces})\nresult = (len(x), {terms})\n"
    original, rewritten = run_both(source)
    assert rewritten == original == (len("".join(str(i) for i in range(1500))), 1200)


def test_decoding_errors_are_reported_like_python():
    with pytest.raises(SyntaxError) as raised:
        decode(b"x = 1\ny = '\xe9'\n", "/p/s.py")
    assert raised.value.msg == (
        "Non-UTF-8 code starting with '\\xe9' in file /p/s.py on line 2, but no encoding"
        " declared; see https://peps.python.org/pep-0263/ for details"
    )
    for source, message in [
        (b"# coding: nope-9\nx = 1\n", "encoding problem: nope-9"),
        (b"#!/bin/python\n# -*- coding: latin_1 -*-\n", None),
        (b"# coding: ascii\nx = '\xe9'\n", "encoding problem: ascii"),
        (b"\xef\xbb\xbf# coding: latin-1\n\xe9", "encoding problem: iso-8859-1 with BOM"),
    ]:
        if message is None:
            assert decode(source) == source.decode("latin-1")
            continue
        with pytest.raises(SyntaxError) as raised:
            decode(source, "s.py")
        assert raised.value.msg == message
        assert raised.value.filename is None


def test_null_bytes_are_reported_like_python():
    with pytest.raises(SyntaxError) as raised:
        compile_source(b"x = 1\ny = 'a\x00b'\n", "s.py")
    exc = raised.value
    assert (exc.msg, exc.filename, exc.lineno, exc.text) == (
        "source code cannot contain null bytes",
        "s.py",
        2,
        "y = 'a",
    )


def test_compile_time_warnings_are_shown_once_and_again_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DURABLE_PYTHON_CACHE", str(tmp_path))
    monkeypatch.setattr(cache, "cache_dir", lambda: tmp_path)
    source = b"x = 1\nif x is 1:\n    pass\n"
    shown = []

    def count(message, category, filename, lineno, file=None, line=None):
        shown.append((category, lineno))

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        monkeypatch.setattr(warnings, "showwarning", count)
        load_code(source, "w.py")
        assert shown == [(SyntaxWarning, 2)]
        load_code(source, "w.py")
        assert shown == [(SyntaxWarning, 2)] * 2
        load_code(source, "w.py", warn_again=False)
        assert shown == [(SyntaxWarning, 2)] * 2


def test_transpiling_leaves_builtins_alone():
    assert "__annotations__" not in builtins.__dict__
    transpile("class C:\n    del __annotations__\n    f(__annotations__)\n")
    assert "__annotations__" not in builtins.__dict__


def test_cache_key_covers_source_name_and_transpiler():
    assert cache.cache_key(b"x", "a.py") != cache.cache_key(b"x", "b.py")
    assert cache.cache_key(b"x", "a.py") != cache.cache_key(b"y", "a.py")
    assert cache.FINGERPRINT != hashlib.sha256(cache.FORMAT).digest()  # the sources count too


def test_syntax_errors_are_pythons_own():
    for source in [b"def f(:\n", b"if 1:\n        x\n\ty\n", b"return 1\n", b"x = f'{a b}'\n"]:
        with pytest.raises(SyntaxError) as ours:
            compile_source(source, "s.py")
        with pytest.raises(SyntaxError) as theirs:
            compile(source, "s.py", "exec", dont_inherit=True)
        assert type(ours.value) is type(theirs.value)
        assert ours.value.args == theirs.value.args


def test_traceback_text_of_rewritten_code_is_identical(identity_resolver, tmp_path):
    path = tmp_path / "tb.py"
    path.write_text(
        "def inner(d):\n    return d['a']['b'] + str(d).zfill(2) + len(d)\n"
        "def outer(x):\n    return [inner(v) for v in x]\nouter([{'a': {'b': 'x'}}])\n"
    )
    texts = []
    for code in (
        compile(path.read_bytes(), str(path), "exec"),
        compile_source(path.read_bytes(), str(path)),
    ):
        buffer = io.StringIO()
        try:
            exec(code, {"__name__": "__tb__"})
        except TypeError:
            traceback.print_exc(file=buffer)
        texts.append(buffer.getvalue().split("\n", 3)[3])  # after this function's own frame
    assert texts[0] == texts[1]
    assert "~~~~^~~~" in texts[0]
