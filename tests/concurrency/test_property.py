"""Property: a generated concurrent program, SIGKILLed at random journal entries and run again,
does what its uninterrupted run does (``cc_harness.check_resumed``): the same output, each line
once; every result it printed from one real execution; every effect executed, repeated only when
in flight at a kill (at most one per running task per crash).

Programs: 1-5 tasks run by a ThreadPoolExecutor (collected in submission order or with
as_completed), by threading.Thread, or by asyncio (gather, or create_task + as_completed). A task
is 1-5 steps: an effect (``fx.effect`` / awaited ``fx.aeffect``, with or without a delay), an
effect that raises and is caught, a print, a value read (``uuid.uuid4``), a durable sleep; a
task may end by raising an effect's exception to its parent. Every line is printed with one
``sys.stdout.write``: lines printed in pieces from concurrent threads interleave under plain
python too, and trip a known bug (test_output_lines.py) that has its own tests.

Budget, fixed so CI time is predictable: ``max_examples=15`` programs, each run once
uninterrupted and then with 1-2 kills (about 4 ``durable-python`` starts, ~4 s on the 2-core box);
``deadline=None`` because each example runs subprocesses; no shrinking phase (shrinking a
failure took over five minutes of subprocess runs), so a failure reports the program as drawn,
with its source. About a minute in all. A failing example is to be added to test_mechanics.py
as a regular test.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from cc_harness import FX, Harness, check_resumed
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

pytestmark = [pytest.mark.e2e, pytest.mark.property]

DELAYS = [0.0, 0.001, 0.004]


@dataclass(frozen=True)
class Step:
    kind: str  # effect, fail, print, value, sleep
    delay: float


@dataclass(frozen=True)
class Program:
    mode: str  # pool, threads, asyncio
    workers: int
    as_completed: bool
    tasks: tuple[tuple[Step, ...], ...]
    raise_out: tuple[bool, ...]

    @property
    def in_flight(self) -> int:
        """How many effects can be running at once (what a kill can catch in flight)."""
        return min(self.workers, len(self.tasks)) if self.mode == "pool" else len(self.tasks)

    def source(self) -> str:
        asynchronous = self.mode == "asyncio"
        lines = [
            "import asyncio",
            "import sys",
            "import threading",
            "import time",
            "import uuid",
            "from concurrent.futures import ThreadPoolExecutor, as_completed",
            "",
            "import fx",
            "",
            "log = sys.argv[1]",
            "",
        ]
        call = "await fx.aeffect" if asynchronous else "fx.effect"
        sleep = "await asyncio.sleep" if asynchronous else "time.sleep"
        for number, steps in enumerate(self.tasks):
            lines += ["", f"{'async ' if asynchronous else ''}def task{number}():", "    out = []"]
            for index, step in enumerate(steps):
                tag = f"t{number}s{index}"
                if step.kind == "effect":
                    lines.append(f"    out.append({call}(log, {tag!r}, {step.delay}))")
                elif step.kind == "fail":
                    lines += [
                        "    try:",
                        f"        {call}(log, {tag!r}, {step.delay}, True)",
                        "    except fx.FxError as exc:",
                        '        sys.stdout.write(f"caught {exc.tag}@{exc.token}\\n")',
                        '        out.append(f"caught {exc.tag}@{exc.token}")',
                    ]
                elif step.kind == "print":
                    lines.append(f'    sys.stdout.write(f"{tag} after {{len(out)}} steps\\n")')
                elif step.kind == "value":
                    lines += [
                        f'    out.append(f"{tag}={{uuid.uuid4().hex[:12]}}")',
                        '    sys.stdout.write(f"read {out[-1]}\\n")',
                    ]
                else:
                    lines.append(f"    {sleep}({step.delay or 0.001})")
            if self.raise_out[number]:
                lines.append(f"    {call}(log, 't{number}end', 0, True)")
            lines.append("    return out")
        tasks = ", ".join(f"task{n}" for n in range(len(self.tasks)))
        lines += ["", "", f"TASKS = [{tasks}]", "results = {}", ""]
        lines += {"pool": self._pool, "threads": self._threads, "asyncio": self._asyncio}[
            self.mode
        ]()
        lines += [
            "for number in range(len(TASKS)):",
            '    sys.stdout.write(f"task {number}: {results[number]}\\n")',
            "",
        ]
        return "\n".join(lines)

    def _pool(self) -> list[str]:
        collect = "as_completed(futures)" if self.as_completed else "futures"
        return [
            f"with ThreadPoolExecutor(max_workers={self.workers}) as pool:",
            "    futures = {pool.submit(task): number for number, task in enumerate(TASKS)}",
            f"    for future in {collect}:",
            "        number = futures[future]",
            "        try:",
            "            results[number] = future.result()",
            "        except fx.FxError as exc:",
            '            results[number] = f"failed {exc.tag}@{exc.token}"',
            '        sys.stdout.write(f"collected {number}\\n")  # one write: tasks print too',
        ]

    def _threads(self) -> list[str]:
        return [
            "def run(number, task):",
            "    try:",
            "        results[number] = task()",
            "    except fx.FxError as exc:",
            '        results[number] = f"failed {exc.tag}@{exc.token}"',
            "",
            "",
            "threads = [",
            "    threading.Thread(target=run, args=(number, task))",
            "    for number, task in enumerate(TASKS)",
            "]",
            "for thread in threads:",
            "    thread.start()",
            "for thread in threads:",
            "    thread.join()",
        ]

    def _asyncio(self) -> list[str]:
        if self.as_completed:
            body = [
                "    async def numbered(number, task):",
                "        try:",
                "            return number, await task()",
                "        except fx.FxError as exc:",
                '            return number, f"failed {exc.tag}@{exc.token}"',
                "",
                "    tasks = [asyncio.create_task(numbered(n, t)) for n, t in enumerate(TASKS)]",
                "    for next_done in asyncio.as_completed(tasks):",
                "        number, result = await next_done",
                "        results[number] = result",
                '        sys.stdout.write(f"collected {number}\\n")',
            ]
        else:
            body = [
                "    outcomes = await asyncio.gather(",
                "        *(task() for task in TASKS), return_exceptions=True",
                "    )",
                "    for number, outcome in enumerate(outcomes):",
                "        if isinstance(outcome, fx.FxError):",
                '            outcome = f"failed {outcome.tag}@{outcome.token}"',
                "        results[number] = outcome",
            ]
        return ["async def main():", *body, "", "", "asyncio.run(main())"]


steps = st.builds(
    Step,
    kind=st.sampled_from(["effect", "effect", "fail", "print", "value", "sleep"]),
    delay=st.sampled_from(DELAYS),
)


@st.composite
def programs(draw) -> Program:
    tasks = draw(
        st.lists(st.lists(steps, min_size=1, max_size=5).map(tuple), min_size=1, max_size=5)
    )
    return Program(
        mode=draw(st.sampled_from(["pool", "threads", "asyncio"])),
        workers=draw(st.integers(1, 4)),
        as_completed=draw(st.booleans()),
        tasks=tuple(tasks),
        raise_out=tuple(draw(st.lists(st.booleans(), min_size=len(tasks), max_size=len(tasks)))),
    )


@settings(
    max_examples=15,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: minutes of subprocesses
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    program=programs(),
    kill_fractions=st.lists(st.floats(0.05, 0.95), min_size=1, max_size=2).map(sorted),
)
def test_generated_concurrent_programs_resume(tmp_path_factory, program, kill_fractions):
    cc = Harness(tmp_path_factory.mktemp("program"))
    cc.write_lib("fx.py", FX)
    cc.write("program.py", program.source())
    reference_log = cc.root / "reference.log"
    reference = cc.run("program.py", str(reference_log))
    assert reference.returncode == 0, f"{reference}\n--- program\n{program.source()}"
    entries = cc.run_of("program.py")["entries"]
    kill_ats = sorted({max(1, round(entries * fraction)) for fraction in kill_fractions})
    log = cc.root / "resumed.log"
    series = cc.run_with_kills("program.py", str(log), kill_ats=kill_ats)
    try:
        check_resumed(reference, reference_log, series, log, program.in_flight, ordered=False)
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\n--- program (kill_ats={kill_ats})\n{program.source()}"
        ) from None
