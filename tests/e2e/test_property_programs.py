"""Property: a generated program, killed at generated journal entries and run again until it
ends, prints what an uninterrupted run prints and leaves the same effects behind.

Programs mix loops, branches, nested functions, try/except/finally, effects that succeed or raise
(through ``witness_client``, one unique path per dynamic call so the witness's counts say which
call ran how often), values (uuid, time, random, os.urandom, environment, datetime, set order),
prints and short sleeps (durable timers). Assertions, as in test_kill_resume.py: the joined stdout
equals the uninterrupted stdout (values masked), every value printed before a crash is the value
the resumed run goes on with, every effect ran, and effects ran again only at crashes that could
interrupt one, at most once per crash.

Budget: 25 examples, derandomized (the same programs and crash points on every CI run), no
deadline (each example runs the command 3-6 times, about 3-5 s), no shrinking (a failing example
is printed in full with ``note``; add it as a regular test). About 1.5 minutes on 2 cores.
"""

from __future__ import annotations

import itertools
import json
import re
import textwrap

import pytest
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st

pytestmark = [pytest.mark.e2e, pytest.mark.property]

VALUES = {
    "uuid": "str(uuid.uuid4())",
    "time": "repr(time.time())",
    "random": "repr(random.random())",
    "urandom": "os.urandom(4).hex()",
    "environ": "os.environ.get('PROP_TOKEN', '-')",
    "now": "datetime.datetime.now().isoformat()",
    "set": "','.join(set('ab cd ef gh ij kl'.split()))",
}

PRELUDE = """\
import datetime
import itertools
import json
import os
import random
import sys
import time
import uuid

import witness_client as wc

BASE = sys.argv[1]
_seq = itertools.count()
vals = []


def _name(path):
    return path.rsplit("/", 1)[-1]


"""

leaves = st.one_of(
    st.just(("print",)),
    st.sampled_from(sorted(VALUES)).map(lambda kind: ("value", kind)),
    st.just(("effect",)),
    st.just(("fail",)),
    st.sampled_from([0, 0.01, 0.03]).map(lambda seconds: ("sleep", seconds)),
)


def _compound(inner):
    return st.one_of(
        leaves,
        st.tuples(st.just("loop"), st.integers(1, 3), inner),
        st.tuples(st.just("if"), inner, inner),
        st.tuples(st.just("func"), inner, st.integers(1, 2)),
        st.tuples(st.just("try"), inner, inner, st.booleans()),
    )


blocks = st.recursive(
    st.lists(leaves, min_size=1, max_size=3),
    lambda inner: st.lists(_compound(inner), min_size=1, max_size=4),
    max_leaves=12,
)


class Renderer:
    """Turns a generated block into Python source; every statement gets its own number."""

    def __init__(self) -> None:
        self.ids = itertools.count()
        self.depth = 0

    def block(self, statements: list, indent: int, in_try: bool) -> list[str]:
        lines: list[str] = []
        for statement in statements:
            lines += self.statement(statement, indent, in_try)
        return lines

    def statement(self, node: tuple, indent: int, in_try: bool) -> list[str]:
        pad = "    " * indent
        n = next(self.ids)
        kind = node[0]
        if kind == "print":
            return [f'{pad}print("p", {n})']
        if kind == "value":
            return [
                f"{pad}_v = {VALUES[node[1]]}",
                f'{pad}sys.stdout.write(f"value {{len(vals)}} {{_v}}\\n")',
                f"{pad}vals.append(_v)",
            ]
        if kind == "effect":
            return [
                f'{pad}_r = wc.hit(f"{{BASE}}/e{n}-{{next(_seq)}}")',
                f'{pad}print("effect", {n}, _name(_r["path"]))',
            ]
        if kind == "fail":
            call = f'{pad}wc.fail(f"{{BASE}}/f{n}-{{next(_seq)}}")'
            if in_try:
                return [call]  # raises into the enclosing try
            return [
                f"{pad}try:",
                "    " + call,
                f"{pad}except wc.WitnessError as exc:",
                f'{pad}    print("caught", {n}, exc.status, _name(exc.path))',
            ]
        if kind == "sleep":
            return [f"{pad}time.sleep({node[1]})"]
        if kind == "loop":
            self.depth += 1
            var = f"i{self.depth}"
            body = self.block(node[2], indent + 1, in_try)
            self.depth -= 1
            head = [f"{pad}for {var} in range({node[1]}):", f'{pad}    print("loop", {n}, {var})']
            return head + body
        if kind == "if":
            return [
                f"{pad}if next(_seq) % 2:",
                *self.block(node[1], indent + 1, in_try),
                f"{pad}else:",
                *self.block(node[2], indent + 1, in_try),
            ]
        if kind == "func":
            return [
                f"{pad}def f{n}():",
                *self.block(node[1], indent + 1, in_try),
                f'{pad}    return "f{n}"',
                *[f"{pad}f{n}()" for _ in range(node[2])],
            ]
        if kind == "try":
            lines = [
                f"{pad}try:",
                *self.block(node[1], indent + 1, True),
                f"{pad}except wc.WitnessError as exc:",
                f'{pad}    print("handler", {n}, _name(exc.path))',
                *self.block(node[2], indent + 1, in_try),
            ]
            if node[3]:
                lines += [f"{pad}finally:", f'{pad}    print("finally", {n})']
            return lines
        raise AssertionError(node)


def render(program: list) -> str:
    body = Renderer().block(program, 0, False)
    ending = ['sys.stdout.write("values " + json.dumps(vals) + "\\n")', 'print("end")']
    return PRELUDE + "\n".join(body + ending) + "\n"


def normalize(text: str) -> str:
    text = re.sub(r"^value (\d+) .*$", r"value \1 *", text, flags=re.M)
    return re.sub(r"^values .*$", "values *", text, flags=re.M)


def check_values(series) -> None:
    """Each value the resumed run ended with is the one printed last for its index."""
    printed: dict[int, str] = {}
    final = None
    for attempt in series.attempts:
        for line in attempt.stdout.splitlines():
            if line.startswith("value "):
                _, index, value = line.split(" ", 2)
                printed[int(index)] = value
            elif line.startswith("values "):
                final = json.loads(line[len("values ") :])
    assert final is not None, series
    assert {i: v for i, v in enumerate(final)} == printed, series


_examples = itertools.count()


def test_renderer_makes_valid_programs():
    program = [
        ("loop", 2, [("effect",), ("value", "uuid")]),
        ("try", [("fail",), ("print",)], [("sleep", 0.01)], True),
        ("func", [("if", [("fail",)], [("effect",)])], 2),
    ]
    source = render(program)
    compile(source, "generated.py", "exec")
    assert "wc.fail" in source and "finally:" in source


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(program=blocks, data=st.data())
def test_crashed_and_resumed_programs_match_uninterrupted_runs(dp, program, data):
    source = render(program)
    note(source)
    here = dp.child(f"example{next(_examples)}")
    here.write("program.py", source)

    base_prefix = here.prefix("pbase")
    baseline = here.run("program.py", here.url(base_prefix), env={"PROP_TOKEN": "token-0"})
    assert baseline.returncode == 0, baseline
    entries = here.run_of("program.py")["entries"]
    expected_counts = here.counts(base_prefix)
    here.settle()

    kill_ats = data.draw(
        st.lists(st.integers(1, entries), min_size=1, max_size=3, unique=True).map(sorted),
        label="kill_ats",
    )
    prefix = here.prefix("pcrash")
    series = here.run_with_kills(
        "program.py",
        here.url(prefix),
        kill_ats=kill_ats,
        env_per_attempt=[{"PROP_TOKEN": f"token-{i}"} for i in range(len(kill_ats) + 2)],
    )
    note(str(series))
    event(f"journal entries: {'<10' if entries < 10 else '<30' if entries < 30 else '30+'}")
    event(f"crashes: {series.crashes}")
    event(f"crashes after which the script could go on for a moment: {series.exact.count(False)}")
    assert series.final.returncode == 0, series
    assert series.crashes >= 1, series
    here.assert_resumed_output(baseline.stdout, series, normalize=normalize)
    here.assert_effects(expected_counts, here.counts(prefix), series)
    check_values(series)


def test_generated_program_example(dp):
    """A fixed program of every kind of statement, killed three times (a regular test)."""
    program = [
        ("value", "set"),
        ("loop", 3, [("effect",), ("value", "random"), ("sleep", 0.01)]),
        ("try", [("effect",), ("fail",), ("print",)], [("value", "uuid"), ("effect",)], True),
        ("func", [("if", [("effect",)], [("fail",)]), ("value", "environ")], 2),
        ("print",),
    ]
    dp.write("program.py", textwrap.dedent(render(program)))
    base_prefix = dp.prefix("fixed-base")
    baseline = dp.run("program.py", dp.url(base_prefix))
    assert baseline.returncode == 0, baseline
    dp.settle()
    prefix = dp.prefix("fixed")
    series = dp.run_with_kills("program.py", dp.url(prefix), kill_ats=[4, 11, 19])
    assert series.final.returncode == 0 and series.crashes == 3, series
    dp.assert_resumed_output(baseline.stdout, series, normalize=normalize)
    dp.assert_effects(dp.counts(base_prefix), dp.counts(prefix), series)
    check_values(series)
