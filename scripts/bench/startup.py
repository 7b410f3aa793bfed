"""Start-up of ``durable-python run`` against plain ``python``: a large script's first run, hello world's.

Two measures, each against plain ``python`` in the same run, medians of ``--repeat`` runs:

* cold start of a generated module of about 10,000 lines (functions, classes, method calls,
  comprehensions, f-strings with ``=``, decorators, nested scopes, ``global``/``nonlocal``), with an
  empty code cache every time (``DURABLE_PYTHON_CACHE`` pointing at a new directory): the run pays
  the whole rewrite. Its warm start (cache filled) is shown too. Target: cold <= 1.0 s in all.
* hello world with a warm cache. Target: <= +0.15 s over ``python``.

Wall time is what a user waits; CPU time (user + system of the waited-for processes) is the steadier
figure on a busy machine, so both are shown, with the load average. After each durable run the
detached process that folds the run's journal into the store is waited for (outside the timing), so
it does not steal CPU from the next run.

    python scripts/bench/startup.py              # 5 runs of each
    python scripts/bench/startup.py --repeat 9 --lines 20000

Run it with the interpreter of the environment durable-python is installed in.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_COLD_S = 1.0
TARGET_HELLO_EXTRA_S = 0.15
BACKGROUND_TIMEOUT_S = 120

_UNIT = '''

def traced_{i}(function):
    """A decorator of the script's own."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        CALLS["{i}"] = CALLS.get("{i}", 0) + 1
        return function(*args, **kwargs)

    return wrapper


@traced_{i}
def helper_{i}(values, scale={i}):
    """Sums, comprehensions, f-strings."""
    total = sum(v * scale for v in values)
    squares = [v * v for v in values if v % 2 == {parity}]
    table = {{str(k): len(str(k)) for k in range(3)}}
    label = f"helper {i}: {{total:>8}} {{len(squares)!r}} {{max(table.values())}}"
    return total + len(label) + len(squares) + len(f"{{len(values)=}}")


def counter_{i}():
    count = 0

    def bump(step=1):
        nonlocal count
        count += step
        return count

    return bump


class Shape{i}:
    """Methods, a property, a classmethod, a staticmethod."""

    registry = []

    def __init__(self, width, height):
        self.width = width
        self.height = height
        Shape{i}.registry.append(self)

    @property
    def area(self):
        return self.width * self.height

    @classmethod
    def square(cls, side):
        return cls(side, side)

    @staticmethod
    def scale(value, factor=2):
        return value * factor

    def describe(self):
        parts = ", ".join(f"{{k}}={{v}}" for k, v in sorted(vars(self).items()))
        return "{{}}({{}})".format(type(self).__name__, parts).upper().lower()


def run_{i}():
    global TOTAL
    shapes = [Shape{i}.square(n) for n in range(1, 4)]
    bump = counter_{i}()
    for shape in shapes:
        try:
            TOTAL += shape.area + bump() + helper_{i}([shape.width, shape.height])
        except ZeroDivisionError as exc:
            raise RuntimeError(str(exc)) from exc
    words = " ".join(s.describe() for s in shapes).split()
    key = sorted(words, key=lambda w: (len(w), w))[0]
    return len(words) + max((len(w) for w in words), default=0) + len(key)
'''


def generate(lines: int) -> str:
    """A realistic module of about ``lines`` lines whose main block runs every unit once."""
    per_unit = _UNIT.count("\n")
    units = max(1, round(lines / per_unit))
    parts = ["import functools\n\nTOTAL = 0\nCALLS = {}\n"]
    parts.extend(_UNIT.format(i=i, parity=i % 2) for i in range(units))
    parts.append("\n\nif __name__ == '__main__':\n    results = [\n")
    parts.extend(f"        run_{i}(),\n" for i in range(units))
    parts.append("    ]\n    print(sum(results), TOTAL, len(CALLS))\n")
    return "".join(parts)


def durable_command() -> list[str]:
    script = Path(sys.executable).parent / "durable-python"
    return [str(script)] if script.exists() else [sys.executable, "-m", "durable_python"]


def wait_for_background(store: Path) -> None:
    """Wait until no process names ``store`` on its command line (the detached fold)."""
    needles = {os.fsencode(store)}
    deadline = time.monotonic() + BACKGROUND_TIMEOUT_S
    while time.monotonic() < deadline:
        busy = False
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    arguments = (entry / "cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                busy = busy or not needles.isdisjoint(arguments)
        if not busy:
            return
        time.sleep(0.005)
    raise SystemExit(f"durable-python still works on {store} {BACKGROUND_TIMEOUT_S} s later")


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of one run, and its output (a failed run stops the benchmark)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


class Bench:
    """Runs ``python`` and ``durable-python`` in turn on scripts in a scratch directory."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        # Bytecode caching as a user's Python has it (pip compiles an installed package's .pyc):
        # with PYTHONDONTWRITEBYTECODE (set on this project's machines) an editable install would
        # compile every runtime module it imports at every start.
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DURABLE_PYTHON_") and k != "PYTHONDONTWRITEBYTECODE"
        }
        self.runs = 0

    def python(self, script: Path) -> tuple[float, float, str]:
        return timed([sys.executable, str(script)], self.workdir, self.env)

    def durable(self, script: Path, cache: Path) -> tuple[float, float, str]:
        self.runs += 1
        store = self.workdir / f"store-{self.runs}"
        env = dict(self.env, DURABLE_PYTHON_STORE=str(store), DURABLE_PYTHON_CACHE=str(cache))
        result = timed([*durable_command(), "run", str(script)], self.workdir, env)
        wait_for_background(store)
        return result


def median_pairs(samples: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each measure (median)")
    parser.add_argument("--lines", type=int, default=10_000, help="size of the generated module")
    args = parser.parse_args()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="dp-startup-") as scratch:
        bench = Bench(Path(scratch))
        big = bench.workdir / "big.py"
        source = generate(args.lines)
        big.write_text(source)
        hello = bench.workdir / "hello.py"
        hello.write_text("print('hello world')\n")
        warm_cache = bench.workdir / "warm-cache"
        expected = bench.python(big)[2]
        for script in (big, hello):  # fill the warm cache; check the output once
            if bench.durable(script, warm_cache)[2] != bench.python(script)[2]:
                raise SystemExit(f"durable-python printed something else for {script.name}")
        rows: dict[str, list[tuple[float, float]]] = {}
        for run in range(args.repeat):
            cold_cache = bench.workdir / f"cold-cache-{run}"
            for name, script, cache in (
                ("python big.py", big, None),
                ("durable big.py, cold", big, cold_cache),
                ("durable big.py, warm", big, warm_cache),
                ("python hello.py", hello, None),
                ("durable hello.py, warm", hello, warm_cache),
            ):
                wall, cpu, output = (
                    bench.python(script) if cache is None else bench.durable(script, cache)
                )
                if name.endswith("big.py") and output != expected:
                    raise SystemExit(f"{name}: printed something else than python big.py")
                rows.setdefault(name, []).append((wall, cpu))
            shutil.rmtree(cold_cache, ignore_errors=True)
    lines = source.count("\n")
    print(
        f"machine: {os.cpu_count()} cpus, {platform.platform()}, python {platform.python_version()},"
        f" load average {load_start[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end"
    )
    print(f"generated module: {lines} lines; medians of {args.repeat} runs\n")
    print(f"| {'run':<24} | {'wall s':>7} | {'cpu s':>7} | {'wall vs python':>14} |")
    print(f"|{'-' * 26}|{'-' * 9}|{'-' * 9}|{'-' * 16}|")
    medians = {name: median_pairs(samples) for name, samples in rows.items()}
    for name, (wall, cpu) in medians.items():
        base = medians["python hello.py" if "hello" in name else "python big.py"][0]
        versus = "" if name.startswith("python") else f"{wall - base:+.3f} s"
        print(f"| {name:<24} | {wall:7.3f} | {cpu:7.3f} | {versus:>14} |")
    cold = medians["durable big.py, cold"][0]
    extra = medians["durable hello.py, warm"][0] - medians["python hello.py"][0]
    print(
        f"\ncold start of {lines} lines: {cold:.3f} s (target <= {TARGET_COLD_S} s: "
        f"{'met' if cold <= TARGET_COLD_S else 'MISSED'}); hello world warm: {extra:+.3f} s "
        f"(target <= +{TARGET_HELLO_EXTRA_S} s: "
        f"{'met' if extra <= TARGET_HELLO_EXTRA_S else 'MISSED'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
