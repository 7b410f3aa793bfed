"""How much slower is a script under ``durable-python run`` than under plain ``python``?

Runs each CPU-bound kernel in ``scripts/bench/kernels/`` with plain ``python`` (this interpreter)
and with ``durable-python run``, alternating, and reports medians: the whole process's wall time and
the kernel's own work loop (each kernel prints ``KERNEL_SECONDS=`` and ``KERNEL_CPU_SECONDS=`` to
stderr), whose ratio leaves out interpreter and durable-python start-up. The CPU-time ratio is the
steadier one on a busy machine. Also measures hello-world start-up with a warm code cache. Both
runs of a kernel must print the same checksum; a mismatch fails the benchmark.

    python scripts/bench/overhead.py              # full run: 5 repeats, table
    python scripts/bench/overhead.py --quick      # smoke run: 1 repeat, small kernel sizes
    python scripts/bench/overhead.py --json       # machine-readable results on stdout
    python scripts/bench/overhead.py --kernels oo_methods,strings --repeat 9
    python scripts/bench/overhead.py --hello-only

Each durable run gets a fresh store (``DURABLE_PYTHON_STORE``) in a temporary working directory;
all share one code cache (``DURABLE_PYTHON_CACHE``), warmed by an untimed first run. The detached
process durable-python starts after a run to fold its journal into the store is waited for before
the next run (so it does not steal CPU) and reported as "fold", outside the wall time.

Run it with the interpreter of the environment durable-python is installed in. Targets: geometric
mean of the in-process ratios <= 1.3x, no kernel above 2x, hello world at most 0.3 s slower to
start than plain python. Exit status: 0 when every run succeeded and outputs matched (targets are
reported, and enforced only with ``--strict``: status 3); 1 on a failed run or an output mismatch.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

try:
    import resource
except ImportError:  # Windows: whole-process CPU times are then not reported
    resource = None

KERNELS_DIR = Path(__file__).resolve().parent / "kernels"
SCALE_ENV = "DP_BENCH_SCALE"  # read by every kernel: 1 for the full run
QUICK_SCALE = 0.1
KERNEL_SECONDS = re.compile(r"^KERNEL_SECONDS=([0-9.eE+-]+)\s*$", re.MULTILINE)
KERNEL_CPU_SECONDS = re.compile(r"^KERNEL_CPU_SECONDS=([0-9.eE+-]+)\s*$", re.MULTILINE)

TARGET_GEOMEAN = 1.3
TARGET_MAX = 2.0
TARGET_HELLO_EXTRA_S = 0.3

STORE_AND_CACHE = ("DURABLE_PYTHON_STORE", "DURABLE_PYTHON_CACHE")  # set per run by the benchmark
RUN_TIMEOUT_S = 600
BACKGROUND_TIMEOUT_S = 120


class BenchError(Exception):
    """A run failed or the two runs of a kernel disagreed."""


@dataclass
class Run:
    wall_s: float
    kernel_s: float | None
    cpu_s: float | None
    stdout: str
    process_cpu_s: float | None = None  # user + system time of the whole (waited-for) process
    background_s: float = 0.0  # after exit, until durable-python's detached work on the store ended


@dataclass
class KernelResult:
    name: str
    python_s: float
    durable_s: float
    ratio: float
    python_cpu_s: float
    durable_cpu_s: float
    cpu_ratio: float
    python_wall_s: float
    durable_wall_s: float
    wall_ratio: float
    python_process_cpu_s: float | None
    durable_process_cpu_s: float | None
    background_s: float
    checksum: str
    python_samples_s: list[float] = field(default_factory=list)
    durable_samples_s: list[float] = field(default_factory=list)


@dataclass
class HelloResult:
    runs: int
    python_s: float
    durable_s: float
    extra_s: float
    python_cpu_s: float | None
    durable_cpu_s: float | None
    extra_cpu_s: float | None
    background_s: float


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def libraries_installed(kernel: Path) -> bool:
    """False for a kernel whose ``requires:`` line names a library this interpreter lacks."""
    found = re.search(r"^requires: (.+)$", kernel.read_text(), re.MULTILINE)
    needed = found.group(1).split() if found else []
    return all(importlib.util.find_spec(name) is not None for name in needed)


def durable_command(explicit: str | None) -> list[str]:
    """The command that runs ``durable-python`` on this interpreter."""
    if explicit:
        return shlex.split(explicit)
    script = Path(sys.executable).parent / ("durable-python" + (".exe" if os.name == "nt" else ""))
    if script.exists():
        return [str(script)]
    if importlib.util.find_spec("durable_python") is not None:
        return [sys.executable, "-m", "durable_python"]
    raise BenchError(
        f"durable-python is not installed for {sys.executable}: run this benchmark with the "
        "interpreter of the environment it is installed in (e.g. .venv/bin/python "
        "scripts/bench/overhead.py), or pass --durable-python COMMAND"
    )


class Runner:
    """Runs scripts in a scratch directory; durable runs get a fresh store and a shared cache."""

    def __init__(self, workdir: Path, durable: list[str], scale: float) -> None:
        self.workdir = workdir
        self.durable = durable
        self.cache = workdir / "cache"
        self.stores = workdir / "stores"
        self.stores.mkdir()
        self.runs = 0
        # Other DURABLE_PYTHON_* settings (DURABLE_PYTHON_SYNC=0, say) pass through to the runs.
        env = {k: v for k, v in os.environ.items() if k not in STORE_AND_CACHE}
        env[SCALE_ENV] = repr(scale)
        self.env = env

    def run(self, script: Path, durable: bool) -> Run:
        self.runs += 1
        env = dict(self.env)
        store = self.stores / f"{script.stem}-{self.runs}"
        if durable:
            store.mkdir()
            env["DURABLE_PYTHON_STORE"] = str(store)
            env["DURABLE_PYTHON_CACHE"] = str(self.cache)
            command = [*self.durable, "run", str(script)]
        else:
            command = [sys.executable, str(script)]
        cpu_before = _children_cpu()
        start = time.perf_counter()
        try:
            done = subprocess.run(
                command,
                cwd=self.workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"{shlex.join(command)} ran longer than {RUN_TIMEOUT_S} s") from exc
        wall = time.perf_counter() - start
        cpu_after = _children_cpu()
        if done.returncode != 0:
            raise BenchError(
                f"{shlex.join(command)} exited with status {done.returncode}:\n"
                + done.stderr[-3000:]
            )
        seconds = KERNEL_SECONDS.findall(done.stderr)
        cpu = KERNEL_CPU_SECONDS.findall(done.stderr)
        result = Run(
            wall,
            float(seconds[-1]) if seconds else None,
            float(cpu[-1]) if cpu else None,
            done.stdout,
            cpu_after - cpu_before if cpu_after is not None else None,
        )
        if durable:
            result.background_s = wait_for_background(store)
        return result


def _children_cpu() -> float | None:
    if resource is None:
        return None
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _median(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else statistics.median(values)


def wait_for_background(store: Path) -> float:
    """Wait until no process works on ``store`` any more; return how long that took.

    After a run ends, durable-python folds its journal into the store in a detached process (the
    command itself returns at once). On a 2-core machine that process would steal CPU from the
    next timed run, so the benchmark waits for it and reports the time separately. Processes are
    found by the store path on their command line (Linux ``/proc``); elsewhere the benchmark
    waits until the store's ``live/`` directory (runs not yet folded) is empty.
    """
    start = time.perf_counter()
    deadline = start + BACKGROUND_TIMEOUT_S
    needles = {os.fsencode(store), os.fsencode(store.resolve())}
    proc = Path("/proc")
    while True:
        if proc.is_dir():
            busy = _processes_mentioning(proc, needles)
        else:
            live = store / "live"
            busy = live.is_dir() and any(live.iterdir())
        if not busy:
            return time.perf_counter() - start
        if time.perf_counter() > deadline:
            raise BenchError(
                f"durable-python still works on {store} {BACKGROUND_TIMEOUT_S} s later"
            )
        time.sleep(0.005)


def _processes_mentioning(proc: Path, needles: set[bytes]) -> bool:
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # the process ended meanwhile
            continue
        if not needles.isdisjoint(arguments):
            return True
    return False


def check_same(kernel: str, expected: str, got: Run, label: str) -> None:
    if got.stdout != expected:
        raise BenchError(
            f"OUTPUT MISMATCH in {kernel} ({label}):\n"
            f"  python:         {expected.strip()[:500]!r}\n"
            f"  durable-python: {got.stdout.strip()[:500]!r}"
        )


def bench_kernel(runner: Runner, script: Path, repeat: int) -> KernelResult:
    name = script.stem
    # Warm-up, untimed: fills durable-python's code cache and the OS file cache, and gives the
    # reference output.
    reference = runner.run(script, durable=False)
    check_same(name, reference.stdout, runner.run(script, durable=True), "warm-up")
    python_runs: list[Run] = []
    durable_runs: list[Run] = []
    for i in range(repeat):
        order = (False, True) if i % 2 == 0 else (True, False)
        for durable in order:
            result = runner.run(script, durable)
            check_same(name, reference.stdout, result, f"run {i + 1}")
            (durable_runs if durable else python_runs).append(result)
        log(f"  {name} run {i + 1}/{repeat}")
    if any(r.kernel_s is None or r.cpu_s is None for r in python_runs + durable_runs):
        raise BenchError(f"{name} did not print KERNEL_SECONDS= and KERNEL_CPU_SECONDS= to stderr")

    def median(runs: list[Run], attribute: str) -> float:
        return statistics.median(getattr(r, attribute) for r in runs)

    python_s, durable_s = median(python_runs, "kernel_s"), median(durable_runs, "kernel_s")
    python_cpu, durable_cpu = median(python_runs, "cpu_s"), median(durable_runs, "cpu_s")
    python_wall, durable_wall = median(python_runs, "wall_s"), median(durable_runs, "wall_s")
    return KernelResult(
        name=name,
        python_s=python_s,
        durable_s=durable_s,
        ratio=durable_s / python_s,
        python_cpu_s=python_cpu,
        durable_cpu_s=durable_cpu,
        cpu_ratio=durable_cpu / python_cpu,
        python_wall_s=python_wall,
        durable_wall_s=durable_wall,
        wall_ratio=durable_wall / python_wall,
        python_process_cpu_s=_median([r.process_cpu_s for r in python_runs]),
        durable_process_cpu_s=_median([r.process_cpu_s for r in durable_runs]),
        background_s=median(durable_runs, "background_s"),
        checksum=reference.stdout.strip(),
        python_samples_s=[r.kernel_s for r in python_runs],
        durable_samples_s=[r.kernel_s for r in durable_runs],
    )


def bench_hello(runner: Runner, runs: int) -> HelloResult:
    script = runner.workdir / "hello.py"
    script.write_text('print("hello")\n')
    runner.run(script, durable=True)  # warm the code cache
    runner.run(script, durable=False)
    python_runs: list[Run] = []
    durable_runs: list[Run] = []
    for i in range(runs):
        order = (False, True) if i % 2 == 0 else (True, False)
        for durable in order:
            result = runner.run(script, durable)
            if result.stdout != "hello\n":
                raise BenchError(f"hello.py printed {result.stdout!r} (durable={durable})")
            (durable_runs if durable else python_runs).append(result)
    python_s = statistics.median(r.wall_s for r in python_runs)
    durable_s = statistics.median(r.wall_s for r in durable_runs)
    python_cpu = _median([r.process_cpu_s for r in python_runs])
    durable_cpu = _median([r.process_cpu_s for r in durable_runs])
    return HelloResult(
        runs=runs,
        python_s=python_s,
        durable_s=durable_s,
        extra_s=durable_s - python_s,
        python_cpu_s=python_cpu,
        durable_cpu_s=durable_cpu,
        extra_cpu_s=durable_cpu - python_cpu if durable_cpu is not None else None,
        background_s=statistics.median(r.background_s for r in durable_runs),
    )


def _output(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def machine() -> dict[str, object]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load] if load else None,
    }


_PROBE = """
import os, durable_python
print(os.path.dirname(os.path.realpath(durable_python.__file__)))
try:
    from durable_python import resolver
    print(getattr(resolver.resolve, "__module__", "?"))
except Exception:
    print("?")
"""


def source_state(label: str | None) -> dict[str, object]:
    """What was measured: where durable_python comes from, its commit, and its resolver.

    Best effort, for the report only: the resolver's module tells a compiled hot path from the
    pure-Python one.
    """
    state: dict[str, object] = {"label": label, "package": None, "commit": None}
    state["uncommitted_changes"] = state["resolver"] = None
    probe = _output([sys.executable, "-c", _PROBE])
    if probe is None or len(probe.splitlines()) != 2:
        return state
    state["package"], state["resolver"] = probe.splitlines()
    git = ["git", "-C", str(state["package"])]
    state["commit"] = _output([*git, "rev-parse", "--short", "HEAD"])
    if state["commit"] is not None:
        changes = _output([*git, "status", "--porcelain", "--untracked-files=all", "--", "."])
        state["uncommitted_changes"] = bool(changes) if changes is not None else None
    return state


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_table(report: dict, kernels: list[KernelResult], hello: HelloResult | None) -> None:
    m, src, summary = report["machine"], report["source"], report["summary"]
    print(
        f"durable-python overhead: median of {report['repeat']} alternating runs per kernel and"
        f" mode, kernel scale {report['scale']}"
        if kernels
        else "durable-python start-up overhead"
    )
    print(
        f"machine: {m['cpus']} cpus, {m['platform']}, {m['implementation']} {m['python']}, "
        f"load average {m['load_average_at_start']} at start, {report['load_average_at_end']} at end"
    )
    if src["label"]:
        print(f"measured: {src['label']}")
    where = f"commit {src['commit']}" if src["commit"] else "not a git checkout"
    dirty = " + uncommitted changes" if src["uncommitted_changes"] else ""
    print(f"durable_python: {src['package']} ({where}{dirty}), resolver {src['resolver']}")
    print()
    if not kernels:
        print_hello(hello, summary)
        return
    print("in-process = the kernel's own work loop (wall, and CPU time); wall = the whole process;")
    print("fold = durable-python's detached store work after the command returned (not in wall)")
    print()
    header = (
        f"{'kernel':<16}{'python s':>9}{'durable s':>10}{'ratio':>8}{'cpu ratio':>10}"
        f"  {'wall: python s':>14}{'durable s':>10}{'ratio':>8}{'fold s':>8}"
    )
    print(header)
    print("-" * len(header))
    for k in kernels:
        print(
            f"{k.name:<16}{k.python_s:>9.3f}{k.durable_s:>10.3f}{k.ratio:>7.2f}x{k.cpu_ratio:>9.2f}x"
            f"  {k.python_wall_s:>14.3f}{k.durable_wall_s:>10.3f}{k.wall_ratio:>7.2f}x"
            f"{k.background_s:>8.3f}"
        )
    print("-" * len(header))
    print(
        f"geometric mean of in-process ratios: {summary['geomean_ratio']:.2f}x "
        f"(target <= {TARGET_GEOMEAN}x: {verdict(summary['geomean_ok'])}); "
        f"CPU time {summary['geomean_cpu_ratio']:.2f}x; wall {summary['geomean_wall_ratio']:.2f}x"
    )
    print(
        f"max in-process ratio: {summary['max_ratio']:.2f}x in {summary['max_kernel']} "
        f"(target <= {TARGET_MAX}x: {verdict(summary['max_ok'])})"
    )
    print_hello(hello, summary)
    print("checksums: python and durable-python printed the same output in every run")


def print_hello(hello: HelloResult | None, summary: dict) -> None:
    if hello is not None:
        print(
            f"hello-world start, warm cache, median of {hello.runs}: python {hello.python_s:.3f} s,"
            f" durable-python {hello.durable_s:.3f} s, {hello.extra_s:+.3f} s "
            f"(target <= +{TARGET_HELLO_EXTRA_S} s: {verdict(summary['hello_ok'])}); "
            f"then {hello.background_s:.3f} s of detached fold"
        )
        if hello.extra_cpu_s is not None:
            print(
                f"hello-world start, CPU time (user + system): python {hello.python_cpu_s:.3f} s,"
                f" durable-python {hello.durable_cpu_s:.3f} s, {hello.extra_cpu_s:+.3f} s"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, help="timed runs per kernel and mode (default 5)")
    parser.add_argument("--hello-runs", type=int, help="hello-world runs per mode (default 10)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 repeat, 3 hello runs, small sizes"
    )
    parser.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    parser.add_argument("--kernels", help="comma-separated kernel names (default: all)")
    parser.add_argument("--hello-only", action="store_true", help="measure hello-world start only")
    parser.add_argument("--durable-python", metavar="COMMAND", help="command to run durably")
    parser.add_argument("--label", help="what is measured, for the report (e.g. a commit)")
    parser.add_argument("--strict", action="store_true", help="exit 3 when a target is missed")
    args = parser.parse_args(argv)
    repeat = args.repeat if args.repeat is not None else 1 if args.quick else 5
    hello_runs = args.hello_runs if args.hello_runs is not None else 3 if args.quick else 10
    scale = QUICK_SCALE if args.quick else 1.0
    if repeat < 1 or hello_runs < 0:
        parser.error("--repeat must be at least 1 and --hello-runs at least 0")

    scripts = [s for s in sorted(KERNELS_DIR.glob("*.py")) if libraries_installed(s)]
    if args.kernels:
        wanted = [name.strip().removesuffix(".py") for name in args.kernels.split(",")]
        unknown = sorted(set(wanted) - {s.stem for s in scripts})
        if unknown:
            parser.error(
                f"unknown kernel(s) {', '.join(unknown)}; have {[s.stem for s in scripts]}"
            )
        scripts = [s for s in scripts if s.stem in wanted]
    if args.hello_only:
        scripts = []
        hello_runs = hello_runs or 10

    try:
        durable = durable_command(args.durable_python)
        report: dict = {"machine": machine(), "source": source_state(args.label)}
        with tempfile.TemporaryDirectory(prefix="dp-bench-") as tmp:
            runner = Runner(Path(tmp), durable, scale)
            kernels = []
            for script in scripts:
                log(f"{script.stem}: warm-up, then {repeat} alternating runs per mode")
                kernels.append(bench_kernel(runner, script, repeat))
            hello = None
            if hello_runs:
                log(f"hello world: {hello_runs} alternating runs per mode")
                hello = bench_hello(runner, hello_runs)
    except BenchError as exc:
        log(f"\nBENCHMARK FAILED: {exc}")
        return 1

    summary: dict = {"geomean_ratio": None, "max_ratio": None, "max_kernel": None}
    if kernels:
        worst = max(kernels, key=lambda k: k.ratio)
        summary = {
            "geomean_ratio": statistics.geometric_mean(k.ratio for k in kernels),
            "max_ratio": worst.ratio,
            "max_kernel": worst.name,
            "geomean_cpu_ratio": statistics.geometric_mean(k.cpu_ratio for k in kernels),
            "geomean_wall_ratio": statistics.geometric_mean(k.wall_ratio for k in kernels),
        }
    summary["geomean_ok"] = not kernels or summary["geomean_ratio"] <= TARGET_GEOMEAN
    summary["max_ok"] = not kernels or summary["max_ratio"] <= TARGET_MAX
    summary["hello_ok"] = hello is None or hello.extra_s <= TARGET_HELLO_EXTRA_S
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    report.update(
        {
            "load_average_at_end": [round(x, 2) for x in load] if load else None,
            "durable_command": durable,
            "repeat": repeat,
            "scale": scale,
            "targets": {
                "geomean_ratio": TARGET_GEOMEAN,
                "max_ratio": TARGET_MAX,
                "hello_extra_s": TARGET_HELLO_EXTRA_S,
            },
            "summary": summary,
            "kernels": [asdict(k) for k in kernels],
            "hello": asdict(hello) if hello is not None else None,
        }
    )
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print_table(report, kernels, hello)
    met = summary["geomean_ok"] and summary["max_ok"] and summary["hello_ok"]
    return 3 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
