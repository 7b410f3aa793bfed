"""Property: the rewritten program computes what the original computes, in the same order.

Hypothesis generates programs (calls, nested and chained calls, attribute and subscript calls,
lambdas, comprehensions and generator arguments, conditionals, arithmetic that raises, star
arguments, clashing keyword names, f-strings, walrus, match, class bodies, defaults), each
statement guarded by ``try``, and a last unguarded one. Both the original and
``durable_python.transpiler.compile_source``'s rewrite run in-process; the rewrite with
``builtins.__dp__`` set to a resolver that returns the callable unchanged and records what it sees.

Checked: the same results, the same calls to the traced functions in the same order, the same
exceptions (type and message) at the same source positions (line and columns of every frame), and
that every dynamic call resolves its callable before its arguments are evaluated.

Budget: ``max_examples=200``, no deadline (a rewrite takes tens of milliseconds).
"""

from __future__ import annotations

import builtins
import re
import textwrap
import traceback

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from durable_python.transpiler import compile_source

pytestmark = pytest.mark.property

FILENAME = "<property>"

PRELUDE = """
import contextlib
import io

x = 3
seq = [1, 2, 3]
table = {0: 1, 1: 2, "a": 3}
out = io.StringIO()

def _traced(name, fn):
    def wrapper(*args, **kwargs):
        trace.append(("call", name))
        return fn(*args, **kwargs)
    wrapper._trace_name = name
    return wrapper

inc = _traced("inc", lambda v: v + 1)
curry = _traced("curry", lambda a: _traced("curried", lambda b: a * b))
fail = _traced("fail", lambda v: v // (v - v))
pick = _traced("pick", lambda *args, **kwargs: len(args) * 10 + len(kwargs))
clash = _traced("clash", lambda f=0, func=0, __dp__=0, self=0, args=0: f + func + __dp__ + self + args)

def add(a, b=10):
    trace.append(("call", "add"))
    return a + b

add._trace_name = "add"

class Box:
    _trace_name = "Box"

    def __init__(self, v):
        trace.append(("call", "Box"))
        self.v = v

    get = _traced("Box.get", lambda self, k=0: self.v + k)
    chain = _traced("Box.chain", lambda self: self)
"""


def _binary(op):
    return lambda pair: f"({pair[0]} {op} {pair[1]})"


ATOMS = st.one_of(
    st.integers(-2, 4).map(str),
    st.sampled_from(["x", "seq[0]", "len(seq)", "table['a']", "True", "None", "'s'"]),
)


def _expressions(children):
    one = children
    two = st.tuples(children, children)
    three = st.tuples(children, children, children)
    return st.one_of(
        one.map(lambda a: f"inc({a})"),
        two.map(lambda t: f"add({t[0]}, b={t[1]})"),
        one.map(lambda a: f"add({a})"),
        three.map(lambda t: f"pick({t[0]}, {t[1]}, k={t[2]})"),
        three.map(lambda t: f"pick(*[{t[0]}, {t[1]}], **{{'z': {t[2]}}})"),
        one.map(lambda a: f"pick(*({a} for _ in range(2)))"),
        one.map(lambda a: f"pick({a} for _ in seq)"),
        two.map(lambda t: f"curry({t[0]})({t[1]})"),
        two.map(lambda t: f"Box({t[0]}).chain().get({t[1]})"),
        two.map(lambda t: f"Box({t[0]}).get(k={t[1]})"),
        two.map(lambda t: f"[inc, curry][{t[0]}]({t[1]})"),
        two.map(lambda t: f"getattr(Box({t[0]}), 'get')({t[1]})"),
        three.map(lambda t: f"clash(f={t[0]}, func={t[1]}, __dp__={t[2]})"),
        two.map(lambda t: f"clash(self={t[0]}, args={t[1]})"),
        one.map(lambda a: f"fail({a})"),
        two.map(_binary("+")),
        two.map(_binary("-")),
        two.map(_binary("*")),
        two.map(_binary("//")),
        two.map(_binary("%")),
        two.map(_binary("<")),
        one.map(lambda a: f"seq[{a}]"),
        one.map(lambda a: f"table[{a}]"),
        three.map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
        two.map(lambda t: f"(lambda y: {t[0]} + y)({t[1]})"),
        two.map(lambda t: f"(lambda *a, **k: len(a) + len(k))({t[0]}, *[{t[1]}], k=1)"),
        one.map(lambda a: f"sum({a} for x in range(2))"),
        two.map(lambda t: f"sum([{t[0]} for x in seq if {t[1]}])"),
        two.map(lambda t: f"len({{x: {t[0]} for x in seq if {t[1]}}})"),
        two.map(lambda t: f"max({t[0]}, {t[1]})"),
        one.map(lambda a: f"abs({a})"),
        st.tuples(ATOMS, ATOMS).map(lambda t: f'len(f"{{inc({t[0]})}}-{{add({t[1]})!r:>3}}")'),
        one.map(lambda a: f"(w := {a})"),
        one.map(lambda a: f"int(str({a}))"),
        one.map(lambda a: f"str({a}).zfill(3)"),
        one.map(lambda a: f"({a}).bit_length()"),
        two.map(lambda t: f"dict(a={t[0]}, f={t[1]})['f']"),
        two.map(lambda t: f"print({t[0]}, {t[1]}, file=out, sep='|')"),
        one.map(lambda a: f"sorted([3, 1, 2], key=lambda v: {a} * v)[0]"),
    )


EXPRESSIONS = st.recursive(ATOMS, _expressions, max_leaves=4)


def _statement(template_and_exprs):
    template, exprs = template_and_exprs
    return template.format(*exprs)


STATEMENT_TEMPLATES = [
    (1, "results.append({0})"),
    (1, "for x in range(2):\n    results.append({0})"),
    (3, "if {0}:\n    results.append({1})\nelse:\n    results.append({2})"),
    (2, "def fn(a={0}):\n    return {1}\nresults.append(fn())"),
    (2, "class K:\n    attr = {0}\n    other = [{1} for _ in range(1)]\nresults.append(K.attr)"),
    (2, "acc = {0}\nacc += {1}\nresults.append(acc)"),
    (
        3,
        "match {0}:\n    case 0:\n        results.append({1})\n    case _:\n        results.append({2})",
    ),
    (1, "results.append([{0} for x in seq])"),
    (1, "with contextlib.nullcontext({0}) as cm:\n    results.append(cm)"),
    (2, 'results.append(f"""{{{0}}}-{{{1}!r:>4}}""")'),
    (2, 'results.append(f"""{{{0}=}}|{{ {1} = !s:>3}}""")'),
    (1, 'results.append(f"""{{{0}\n=}}""")'),
    (2, "results.append((Box({0})\n    .chain()\n    .get(\n        {1})))"),
    (1, "results.append((contextlib\n    .nullcontext({0})\n    .__enter__()))"),
]


@st.composite
def statements(draw):
    arity, template = draw(st.sampled_from(STATEMENT_TEMPLATES))
    exprs = [draw(EXPRESSIONS) for _ in range(arity)]
    return template.format(*exprs)


def _guarded(statement: str) -> str:
    body = textwrap.indent(statement, "    ")
    return (
        f"try:\n{body}\nexcept Exception as exc:\n"
        "    trace.append(('exc', type(exc).__name__, str(exc)))\n"
    )


@st.composite
def programs(draw):
    body = [_guarded(s) for s in draw(st.lists(statements(), min_size=1, max_size=3))]
    last = draw(EXPRESSIONS)
    return "".join(body) + f"results.append({last})\nresults.append(out.getvalue())\n"


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _clean(value: object) -> str:
    return _ADDRESS.sub("", repr(value))


_PRELUDES = {}


def _prelude(rewritten: bool):
    """The prelude's code, original or rewritten, compiled once."""
    if rewritten not in _PRELUDES:
        source = PRELUDE.encode()
        _PRELUDES[rewritten] = (
            compile_source(source, "<prelude>")
            if rewritten
            else compile(source, "<prelude>", "exec", dont_inherit=True)
        )
    return _PRELUDES[rewritten]


def _outcome(code, resolver=None):
    """Run the prelude then ``code``; return results, trace, and the escaping exception's type,
    text and frames. With a ``resolver``, both run rewritten."""
    trace: list[tuple] = []
    namespace = {"__name__": "__property__", "trace": trace, "results": []}
    previous = getattr(builtins, "__dp__", None)
    if resolver is not None:
        builtins.__dp__ = resolver(trace)
    error = None
    try:
        exec(_prelude(resolver is not None), namespace)
        del trace[:]
        exec(code, namespace)
    except Exception as exc:  # noqa: BLE001 - compared below
        frames = [
            (f.name, f.lineno, f.end_lineno, f.colno, f.end_colno)
            for f in traceback.extract_tb(exc.__traceback__)
            if f.filename == FILENAME
        ]
        error = (type(exc).__name__, _clean(str(exc)), frames)
    finally:
        if previous is None:
            builtins.__dict__.pop("__dp__", None)
        else:
            builtins.__dp__ = previous
    return _clean(namespace["results"]), trace, error


def _recording_resolver(trace):
    def resolve(f, *method_name):
        # A missing method raises where ``.name`` is read, after this returns, as the runtime's does.
        callee = getattr(f, *method_name, None) if method_name else f
        name = getattr(callee, "_trace_name", None)
        if name is not None:
            trace.append(("resolve", name))
        return f

    return resolve


def _check_resolved_before_arguments(trace):
    """Every traced dynamic call: its resolve, then its arguments' calls, then its own call."""
    pending: list[str] = []
    for event in trace:
        if event[0] == "resolve":
            pending.append(event[1])
        elif event[0] == "exc":
            pending.clear()  # calls abandoned by the exception
        else:
            assert pending, f"{event[1]} was called without being resolved"
            assert pending.pop() == event[1], trace


def _compile_original(source):
    try:
        return compile(source, FILENAME, "exec", dont_inherit=True), None
    except SyntaxError as exc:
        return None, (exc.msg, exc.lineno, exc.offset)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(programs())
def test_rewritten_program_computes_the_same(source):
    original, syntax_error = _compile_original(source)
    if syntax_error is not None:
        with pytest.raises(SyntaxError) as raised:
            compile_source(source.encode(), FILENAME)
        assert (raised.value.msg, raised.value.lineno, raised.value.offset) == syntax_error
        assume(False)
    rewritten = compile_source(source.encode(), FILENAME)

    results, trace, error = _outcome(original)
    rewritten_results, rewritten_trace, rewritten_error = _outcome(rewritten, _recording_resolver)

    assert rewritten_results == results
    assert [e for e in rewritten_trace if e[0] != "resolve"] == trace
    assert rewritten_error == error
    _check_resolved_before_arguments(rewritten_trace)


def test_resolver_sees_the_callee_before_the_arguments():
    source = "results.append(curry(inc(1))(Box(inc(2)).get(k=inc(3))))\n"
    _, trace, error = _outcome(compile_source(source.encode(), FILENAME), _recording_resolver)
    assert error is None
    assert trace == [
        ("resolve", "curry"),
        ("resolve", "inc"),
        ("call", "inc"),
        ("call", "curry"),
        ("resolve", "curried"),
        ("resolve", "Box"),
        ("resolve", "inc"),
        ("call", "inc"),
        ("call", "Box"),
        ("resolve", "Box.get"),
        ("resolve", "inc"),
        ("call", "inc"),
        ("call", "Box.get"),
        ("call", "curried"),
    ]


def test_a_missing_method_fails_where_python_says():
    """Found by the property test: ``__dp__(obj, 'name')`` leaves a failing lookup to ``.name``,
    so the error's position is the attribute's, as under python, not the resolver call's."""
    source = "results.append((str(pick(0)).zfill(3)).bit_length())\n"
    original, _ = _compile_original(source)
    rewritten = compile_source(source.encode(), FILENAME)
    _, _, error = _outcome(original)
    _, _, rewritten_error = _outcome(rewritten, _recording_resolver)
    assert error is not None and error[0] == "AttributeError"
    assert rewritten_error == error
