"""The console's API on a store of 10,000 runs (issue 14: "fast on a store with 10,000 runs").

    python scripts/bench/console.py                       # the local store, 10,000 runs
    python scripts/bench/console.py --store postgresql://postgres@127.0.0.1:5432/test
    python scripts/bench/console.py --runs 2000 --reps 5 --json

It fills a fresh store (a temporary directory, or a schema of its own on the PostgreSQL server,
dropped afterwards) with finished runs of a few scripts and statuses, 5 entries each, one of them
with a journal of 1,000 entries, and times what the console asks for, in-process through the
ASGI app (no sockets: the figures are the server's own work): the first page of the list, the
page after it (by cursor), a status that few runs have, a text search, a time range, one run's
view and the 1,000-entry journal. The baseline measured in the same run is ``store.runs()``,
reading every row, which a listing cannot do without; ``x floor`` is a request's median over it.
Medians of ``--reps`` requests each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

from fastapi.testclient import TestClient

from durable_python.model import Run, RunStatus
from durable_python.serve import api
from durable_python.stores import open_store
from durable_python.stores.base import Store

STATUSES = [RunStatus.COMPLETED] * 17 + [RunStatus.EXITED, RunStatus.CANCELLED, RunStatus.FAILED]


def entry(seq: int, at: float) -> tuple:
    return ("main", seq, 0, "effect", "m.f", "job.py:3", "fp", "ok", b"\x80\x04K\x01.", at, at)


def fill(store: Store, runs: int, now: float) -> str:
    """``runs`` finished runs, started a second apart up to ``now``; the id of the long one."""
    for n in range(runs):
        created = now - (runs - n)
        run = Run(
            run_id=f"r{n:06d}",
            script=f"/jobs/job{n % 7}.py",
            source_hash="",
            argv=(f"jobs/job{n % 7}.py", f"invoice-{n}"),
            cwd="/",
            hash_seed=1,
            random_seed=2,
            status=RunStatus.RUNNING,
            created_at=created,
        )
        claim = store.create(run)
        writer = store.writer(claim, sync=False)
        count = 1000 if n == runs // 2 else 5
        writer.append([entry(seq, created + seq / 1000) for seq in range(count)], sync=False)
        writer.close()
        status = STATUSES[n % len(STATUSES)]
        store.save(replace(run, status=status, exit_code=0 if status == "completed" else 1))
        claim.release()
    while store.compact():  # the local store folds the stopped runs into DuckDB
        pass
    return f"r{runs // 2:06d}"


def timed(client: TestClient, path: str, reps: int, **params: object) -> float:
    took = []
    for _ in range(reps):
        started = time.perf_counter()
        response = client.get(path, params=params)
        took.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    return statistics.median(took) * 1000


def measure(store: Store, runs: int, reps: int) -> dict[str, float]:
    now = time.time()
    long_run = fill(store, runs, now)
    app = api.create_app(api.Settings(store, start=lambda **kw: None))  # nothing is started
    client = TestClient(app)
    cursor = client.get("/runs", params={"limit": 50}).json()["next_cursor"]
    floor = []
    for _ in range(reps):
        started = time.perf_counter()
        store.runs()
        floor.append(time.perf_counter() - started)
    return {
        "store.runs() (floor)": statistics.median(floor) * 1000,
        "list, first page of 50": timed(client, "/runs", reps, limit=50),
        "list, next page (cursor)": timed(client, "/runs", reps, limit=50, cursor=cursor),
        "list, status=failed": timed(client, "/runs", reps, limit=50, status="failed"),
        "list, search 'invoice-77'": timed(client, "/runs", reps, limit=50, q="invoice-77"),
        "list, last hour": timed(client, "/runs", reps, limit=50, since=now - 3600),
        "one run": timed(client, f"/runs/{long_run}", reps),
        "journal of 1,000 entries": timed(client, f"/runs/{long_run}/journal", reps),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="a postgresql:// URL (default: a temporary directory)")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        if args.store:
            schema = f"bench_{uuid.uuid4().hex[:12]}"
            store = open_store(f"{args.store}?schema={schema}")
        else:
            store = open_store(Path(directory) / "store")
        try:
            figures = measure(store, args.runs, args.reps)
        finally:
            if args.store:
                store.db.transact(lambda cursor: cursor.execute(f'DROP SCHEMA "{schema}" CASCADE'))
    if args.json:
        print(json.dumps(figures))
        return 0
    floor = figures["store.runs() (floor)"]
    kind = "PostgreSQL" if args.store else "local"
    print(f"{args.runs} runs, {kind} store, median of {args.reps}, load {os.getloadavg()[0]:.1f}")
    print(f"{'request':<28} {'ms':>8} {'x floor':>8}")
    for name, ms in figures.items():
        print(f"{name:<28} {ms:8.1f} {ms / floor:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
