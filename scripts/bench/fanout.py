"""Fan-out benchmark (issue 5): 10,000 tiny effects spread over 8 threads and over asyncio tasks.

    python scripts/bench/fanout.py            # 10,000 effects, median of 3 (a few minutes)
    python scripts/bench/fanout.py --quick    # 1,000 effects, one run each (under a minute)
    python scripts/bench/fanout.py --json     # one JSON object instead of the table

An effect is a call of ``fanout_ext.ping`` (a trivial function in a module outside the script's
directory, so durable-python records each call and commits it before the caller goes on); for
asyncio it is ``await fanout_ext.aping(i)`` (a trivial coroutine: an awaited effect). Workloads:

    single           one task, the N effects in a loop (the single-task baseline)
    threads 8xN/8    8 threading.Thread workers, N/8 effects each
    pool.map N       ThreadPoolExecutor(8).map over N work items of one effect each
    async single     one coroutine awaiting the N effects in a loop
    async 8xN/8      asyncio.gather of 8 coroutines, N/8 awaited effects each
    async gather N   asyncio.gather of N coroutines (Semaphore(8)), one awaited effect each

Each runs under plain python, under durable-python with fdatasync per commit (the default) and
with ``--no-sync``. The script times its workload in-process (``time.perf_counter``), so start-up
is not counted. Columns: throughput in effects/s; ``slower``: how many times plain python's
throughput is durable-python's (a trivial call costs plain python ~0.1 us, so this is large and
mostly says what one recorded effect costs); ``vs single``: durable-python's throughput as a
multiple of the single-task durable throughput with the same sync setting, measured in the same
run (the async rows against "async single"): the gain from running tasks concurrently.
Concurrent tasks share commits (group commit), so with fdatasync more tasks should mean more
effects per second. Figures are medians over rounds that each run every workload once (so slow
stretches of the disk spread over all figures); the load average and the disk's own
write+fdatasync time are printed, and figures taken while other work runs on the machine are not
to be quoted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXT = '''
"""Outside the benchmark script's directory: not rewritten, so each call is an effect."""


def ping(i):
    return i


async def aping(i):
    return i
'''

WORK = '''
"""The fan-out workloads; prints ``elapsed_s <seconds>`` for the timed part."""

import asyncio
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from fanout_ext import aping, ping

workload, n, width = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def loop(start, count):
    for i in range(start, start + count):
        ping(i)


def one(i):
    return ping(i)


async def aloop(start, count):
    for i in range(start, start + count):
        await aping(i)


async def fan_out(count):
    share = count // width
    await asyncio.gather(*(aloop(k * share, share) for k in range(width)))


async def gather_each(count):
    limit = asyncio.Semaphore(width)

    async def each(i):
        async with limit:
            return await aping(i)

    await asyncio.gather(*(each(i) for i in range(count)))


ping(-1)  # the callable's policy is decided once, outside the timing
started = time.perf_counter()
if workload == "single":
    loop(0, n)
elif workload == "threads":
    share = n // width
    workers = [threading.Thread(target=loop, args=(k * share, share)) for k in range(width)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
elif workload == "pool":
    with ThreadPoolExecutor(max_workers=width) as pool:
        done = list(pool.map(one, range(n)))
elif workload == "async-single":
    asyncio.run(aloop(0, n))
elif workload == "async-fan":
    asyncio.run(fan_out(n))
elif workload == "async-gather":
    asyncio.run(gather_each(n))
else:
    raise SystemExit(f"unknown workload {workload}")
print(f"elapsed_s {time.perf_counter() - started!r}")
'''

WORKLOADS = [
    ("single", "single", "single"),
    ("threads", "threads 8xN/8", "single"),
    ("pool", "pool.map N", "single"),
    ("async-single", "async single", "async-single"),
    ("async-fan", "async 8xN/8", "async-single"),
    ("async-gather", "async gather N", "async-single"),
]
MODES = ["python", "sync", "no-sync"]


def disk_floor(root: Path, count: int) -> float:
    """Seconds per ``os.write`` + ``fdatasync`` of a 200-byte record appended to a file in the
    scratch directory: what one synced commit cannot go below (median of ``count``)."""
    path = root / "floor.seg"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    samples = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            os.write(fd, b"x" * 200)
            os.fdatasync(fd)
            samples.append(time.perf_counter() - started)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(samples)


def durable_command(given: str | None) -> list[str]:
    if given:
        return given.split()
    beside = Path(sys.executable).with_name("durable-python")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("durable-python")
    if found:
        return [found]
    return [sys.executable, "-m", "durable_python"]


def elapsed(stdout: str) -> float:
    found = re.search(r"^elapsed_s (\S+)$", stdout, re.M)
    if found is None:
        raise SystemExit(f"fanout bench: no elapsed_s line in:\n{stdout[-2000:]}")
    return float(found.group(1))


class Bench:
    def __init__(self, root: Path, durable: list[str], effects: int, width: int) -> None:
        self.root = root
        self.durable = durable
        self.effects = effects
        self.width = width
        (root / "ext").mkdir()
        (root / "ext" / "fanout_ext.py").write_text(EXT.lstrip())
        (root / "scripts").mkdir()
        self.script = root / "scripts" / "fanout_work.py"
        self.script.write_text(WORK.lstrip())
        self.runs = 0

    def env(self, store: Path | None) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DURABLE_PYTHON_") and k != "PYTHONHASHSEED"
        }
        env["PYTHONPATH"] = str(self.root / "ext")
        env["DURABLE_PYTHON_CACHE"] = str(self.root / "cache")
        env["DURABLE_PYTHON_TEST_NO_FOLD"] = "1"  # scratch stores: no fold competing for CPU
        if store is not None:
            env["DURABLE_PYTHON_STORE"] = str(store)
        return env

    def measure(self, workload: str, mode: str) -> float:
        """Seconds the workload took in one fresh process."""
        args = [workload, str(self.effects), str(self.width)]
        self.runs += 1
        if mode == "python":
            command, store = [sys.executable, str(self.script), *args], None
        else:
            store = self.root / f"store-{self.runs}"
            flag = "--sync" if mode == "sync" else "--no-sync"
            command = [*self.durable, "run", "--new", flag, str(self.script), *args]
        done = subprocess.run(
            command, cwd=self.root, env=self.env(store), capture_output=True, text=True, timeout=900
        )
        if done.returncode != 0:
            raise SystemExit(
                f"fanout bench: {' '.join(command)} exited {done.returncode}\n"
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        if store is not None:
            shutil.rmtree(store, ignore_errors=True)
        return elapsed(done.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 effects, one run each")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--effects", type=int, help="effects per workload (default 10,000)")
    parser.add_argument("--reps", type=int, help="runs per figure, the median is kept")
    parser.add_argument("--width", type=int, default=8, help="threads / tasks in flight")
    parser.add_argument("--durable", help="the durable-python command (default: the installed)")
    parser.add_argument("--dir", help="scratch directory (its disk takes the fdatasyncs)")
    parser.add_argument(
        "--only", help="comma-separated workloads: " + ",".join(w for w, _, _ in WORKLOADS)
    )
    args = parser.parse_args(argv)
    effects = args.effects or (1000 if args.quick else 10_000)
    reps = args.reps or (1 if args.quick else 3)
    chosen = [w for w in WORKLOADS if not args.only or w[0] in args.only.split(",")]

    load = os.getloadavg()[0]
    root = Path(tempfile.mkdtemp(prefix="fanout-", dir=args.dir))
    try:
        bench = Bench(root, durable_command(args.durable), effects, args.width)
        # Round-robin over the repetitions: each figure samples the whole run, so a stretch of
        # slow fdatasyncs (another process's I/O) does not land on one workload only.
        times: dict[tuple[str, str], list[float]] = {}
        floors: list[float] = []
        for rep in range(reps):
            floors.append(disk_floor(root, 200))
            for workload, label, _ in chosen:
                for mode in MODES:
                    seconds = bench.measure(workload, mode)
                    times.setdefault((workload, mode), []).append(seconds)
                    if not args.json:
                        print(
                            f"  .. round {rep + 1}: {label:<16} {mode:<8}"
                            f" {effects / seconds:>12,.0f} effects/s",
                            file=sys.stderr,
                            flush=True,
                        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    results = {
        workload: {mode: effects / statistics.median(times[workload, mode]) for mode in MODES}
        for workload, _, _ in chosen
    }
    floor = statistics.median(floors)

    rows = []
    for workload, label, baseline in chosen:
        row = {"workload": workload, "label": label}
        for mode in MODES:
            rate = results[workload][mode]
            row[f"{mode}_per_s"] = rate
            if mode != "python":
                row[f"{mode}_vs_python"] = rate / results[workload]["python"]
                base = results.get(baseline, {}).get(mode)
                row[f"{mode}_vs_single"] = rate / base if base else None
        rows.append(row)
    machine = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_at_start": round(load, 2),
        "load_average_at_end": round(os.getloadavg()[0], 2),
        "fdatasync_floor_ms": round(floor * 1000, 3),
    }
    if args.json:
        print(
            json.dumps(
                {
                    "effects": effects,
                    "width": args.width,
                    "reps": reps,
                    "machine": machine,
                    "rows": rows,
                }
            )
        )
        return 0
    print(
        f"fanout: {effects:,} tiny effects per workload, {args.width} in flight, median of {reps};"
        f" {machine['cpus']} CPUs, load average {machine['load_average_at_start']}"
        f" -> {machine['load_average_at_end']}; one write + fdatasync:"
        f" {machine['fdatasync_floor_ms']} ms"
    )
    header = (
        f"{'workload':<16} {'python/s':>11} | {'sync/s':>9} {'slower':>8} {'vs single':>9} |"
        f" {'no-sync/s':>9} {'slower':>8} {'vs single':>9}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        cells = [f"{row['label']:<16} {row['python_per_s']:>11,.0f}"]
        for mode in ("sync", "no-sync"):
            single = row[f"{mode}_vs_single"]
            slower = f"{1 / row[f'{mode}_vs_python']:,.0f}x"
            cells.append(
                f"{row[f'{mode}_per_s']:>9,.0f} {slower:>8}"
                f" {'' if single is None else f'{single:.2f}x':>9}"
            )
        print(" | ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
