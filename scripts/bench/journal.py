"""Journal benchmark: what recording costs per effect and per value, and how fast a rerun resumes.

    python scripts/bench/journal.py            # full run (5-10 minutes; DBOS is the slow part)
    python scripts/bench/journal.py --quick    # smoke run, small sizes (under a minute)
    python scripts/bench/journal.py --json     # one JSON object instead of the tables
    python scripts/bench/journal.py --no-dbos  # without the peer (pip install -e '.[bench]')
    python scripts/bench/journal.py --store postgresql://postgres@127.0.0.1:5432/test

Every figure is a median of several runs and is set against a baseline measured in the same run:

(a) effects: a loop of calls to ``bench_ext.ping`` (a trivial function in a module outside the
    script's directory, so durable-python records each call as an effect and commits it before the
    loop goes on), timed in-process with ``time.perf_counter``, under plain python, under
    durable-python with fdatasync (the default) and with ``--no-sync``, and as a DBOS step on
    SQLite (the embedded peer). Also the disk's own floor: one ``os.write`` + ``fdatasync`` of a
    record-sized buffer, since a synced commit cannot be cheaper than that.
(b) values: a loop of ``time.time()`` calls (each recorded as a value entry, batched) under
    durable-python, against plain python; and the same with ``time.perf_counter()``, in
    microseconds per read.
(c) resume: a script that makes N effects and then calls ``bench_ext.mark``, which SIGKILLs the
    first run (so exactly N entries are committed). The rerun replays the N entries and calls
    ``mark`` live, which writes ``time.monotonic_ns()`` to a file outside any journal: the time
    from spawning the rerun to that moment is its time to reach the frontier. Baselines: plain
    python and a fresh durable-python run of the same script with N=0. DBOS recovers the same
    workflow (N steps, then the marker step) at a smaller N; per-entry rates of both and DBOS's
    extrapolation to the durable-python N are labelled as such.

With ``--store postgresql://...`` the same rows measure durable-python's PostgreSQL store on that
server, each measurement in a schema of its own (``?schema=bench_...``), against DBOS with its
system database on the same server (a database per measurement); the floor is then one INSERT of
a 200-byte row + COMMIT (synchronous_commit on) on a psycopg connection, and (c) has one resume
row, the journal being in its table from the start (nothing to fold). The schemas and databases
are dropped at the end.

The workloads live in ``journal_workloads/`` and are copied into a scratch directory (``--dir``
chooses where: the local stores and the fdatasync floor are on that disk) laid out so that
``bench_ext`` is outside the scripts' directory (and on PYTHONPATH). Run it with the interpreter
of the environment where durable-python is installed. The machine's load average is printed: figures
taken while other work runs (tests on the same 2 cores, another process's fsyncs) are not to be
quoted; the resume rows also show each process's CPU time, which moves less than wall time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

WORKLOADS = Path(__file__).resolve().parent / "journal_workloads"


@dataclass
class Sizes:
    reps: int
    dbos_reps: int
    effects: int
    dbos_effects: int
    values: int
    resume: int
    dbos_resume_small: int
    dbos_resume: int
    floor: int


FULL = Sizes(
    reps=5,
    dbos_reps=3,
    effects=3000,
    dbos_effects=2000,
    values=100_000,
    resume=100_000,
    dbos_resume_small=1000,
    dbos_resume=5000,
    floor=500,
)
QUICK = Sizes(
    reps=2, dbos_reps=2, effects=300, dbos_effects=100, values=10_000, resume=5000,
    dbos_resume_small=20, dbos_resume=100, floor=100,
)  # fmt: skip

# By kind of store: the targets (a missing one is not a target there; PostgreSQL's are for a
# server on the same machine) and the rows' wording.
TARGETS = {
    "local": {
        "effect_ms": 0.4,
        "vs_dbos": 4.0,
        "values_per_s": 50_000,
        "value_us": 1.0,
        "resume_s": 1.0,
        "replay_per_s": 250_000,
    },
    "postgresql": {"effect_ms": 1.0, "vs_dbos": 2.0, "replay_per_s": 50_000},
}
LABELS = {
    "local": {
        "sync": "fdatasync",
        "sync_row": "durable-python (fdatasync per commit, the default)",
        "nosync_row": "durable-python --no-sync",
        "floor": "disk floor",
        "floor_row": "disk floor: one os.write + fdatasync of 160 B",
        "dbos": "SQLite",
    },
    "postgresql": {
        "sync": "synchronous commit",
        "sync_row": "durable-python (synchronous commit, the default)",
        "nosync_row": "durable-python --no-sync (synchronous_commit off)",
        "floor": "PostgreSQL floor",
        "floor_row": "PostgreSQL floor: one INSERT of 200 B + COMMIT",
        "dbos": "PostgreSQL",
    },
}
RESUME_LABELS = {"segments": "segments", "duckdb": "DuckDB", "postgresql": "PostgreSQL"}


# ----- where the stores are -------------------------------------------------------------------
#
# A measurement gets a store of its own from ``store()`` (a location for DURABLE_PYTHON_STORE)
# and DBOS a system database from ``dbos_database()`` (a URL); ``copy``/``dbos_copy`` duplicate
# one (a crashed run, rerun several times); ``floor`` is what a synced commit cannot go below.


class Directories:
    """The local store: a directory per measurement in the scratch directory; DBOS on SQLite."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.counter = 0

    def fresh_dir(self, kind: str) -> Path:
        self.counter += 1
        path = self.root / f"{kind}-{self.counter}"
        path.mkdir()
        return path

    def store(self) -> str:
        return str(self.fresh_dir("store"))

    def copy(self, store: str) -> str:
        copy = self.fresh_dir("store")
        shutil.rmtree(copy)
        shutil.copytree(store, copy)
        return str(copy)

    def resume_bases(self, bench: Bench, killed: str) -> dict[str, str]:
        """The stores (c) reruns copies of, by kind: the killed run as it is (its journal in
        segments), and a copy of it folded into DuckDB."""
        folded = self.copy(killed)
        bench.run([*bench.durable, "fold", "--store", folded], bench.env(folded))
        return {"segments": killed, "duckdb": folded}

    def floor(self, count: int) -> float:
        """Seconds per ``os.write`` + ``fdatasync`` of a 160-byte record (the size of a ping
        entry) appended to a new file in the scratch directory."""
        path = self.fresh_dir("floor") / "floor.seg"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        data = b"x" * 160
        try:
            started = time.perf_counter()
            for _ in range(count):
                os.write(fd, data)
                os.fdatasync(fd)
            return (time.perf_counter() - started) / count
        finally:
            os.close(fd)

    def dbos_database(self) -> str:
        return f"sqlite:///{self.fresh_dir('dbos') / 'sys.sqlite'}"

    def dbos_copy(self, url: str) -> str:
        source = Path(url.removeprefix("sqlite:///"))
        return f"sqlite:///{Path(self.copy(str(source.parent))) / source.name}"

    def describe(self) -> dict:
        return {"kind": self.kind, "location": str(self.root)}

    def close(self) -> None:
        pass


class PostgreSQL:
    """A PostgreSQL server: a schema per durable-python measurement (``?schema=``), a database
    per DBOS one, all named ``bench_<random>_<n>`` and dropped by ``close``."""

    kind = "postgresql"

    def __init__(self, url: str) -> None:
        import psycopg

        self.psycopg = psycopg
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        self.query = [(key, value) for key, value in query if key != "schema"]
        self.parts = parts._replace(query=urlencode(self.query))
        netloc = parts.netloc.replace(f":{parts.password}@", "@") if parts.password else None
        self.shown = urlunsplit(self.parts._replace(netloc=netloc or parts.netloc))
        self.prefix = f"bench_{secrets.token_hex(4)}"
        self.counter = 0
        self.schemas: list[str] = []
        self.databases: list[str] = []
        try:
            self.admin = psycopg.connect(urlunsplit(self.parts), autocommit=True)
        except psycopg.Error as exc:
            raise SystemExit(f"journal bench: cannot connect to {self.shown}: {exc}") from None

    def _name(self, kind: str = "") -> str:
        self.counter += 1
        return f"{self.prefix}{kind}_{self.counter}"

    def _schema_url(self, schema: str) -> str:
        return urlunsplit(self.parts._replace(query=urlencode([*self.query, ("schema", schema)])))

    def store(self) -> str:
        schema = self._name()
        self.schemas.append(schema)  # durable-python creates it
        return self._schema_url(schema)

    def copy(self, store: str) -> str:
        """A new schema with the tables and rows of ``store``'s (its identity sequences set
        past the copied rows, so the rerun's entries come after them)."""
        source = dict(parse_qsl(urlsplit(store).query))["schema"]
        copy = self.store()
        target = self.schemas[-1]
        db = self.admin
        with db.transaction():
            db.execute(f'CREATE SCHEMA "{target}"')
            tables = db.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (source,)
            ).fetchall()
            for (table,) in tables:
                db.execute(
                    f'CREATE TABLE "{target}"."{table}" (LIKE "{source}"."{table}" INCLUDING ALL)'
                )
                db.execute(
                    f'INSERT INTO "{target}"."{table}" OVERRIDING SYSTEM VALUE'
                    f' SELECT * FROM "{source}"."{table}"'
                )
            identities = db.execute(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = %s AND is_identity = 'YES'",
                (target,),
            ).fetchall()
            for table, column in identities:
                db.execute(
                    f'SELECT setval(pg_get_serial_sequence(%s, %s), coalesce(max("{column}"), 0)'
                    f' + 1, false) FROM "{target}"."{table}"',
                    (f'"{target}"."{table}"', column),
                )
        return copy

    def resume_bases(self, bench: Bench, killed: str) -> dict[str, str]:
        return {"postgresql": killed}  # entries are in their table from the start: no fold

    def floor(self, count: int) -> float:
        """Seconds per INSERT of a 200-byte row + COMMIT (synchronous_commit on) on a psycopg
        connection, into a table of a new schema."""
        schema = self._name()
        self.schemas.append(schema)
        with self.psycopg.connect(urlunsplit(self.parts)) as db:
            db.execute("SET synchronous_commit TO on")
            db.execute(f'CREATE SCHEMA "{schema}"')
            db.execute(f'CREATE TABLE "{schema}".floor (data bytea NOT NULL)')
            db.commit()
            insert = f'INSERT INTO "{schema}".floor VALUES (%s)'
            data = b"x" * 200
            started = time.perf_counter()
            for _ in range(count):
                db.execute(insert, (data,))
                db.commit()
            return (time.perf_counter() - started) / count

    def dbos_database(self, template: str | None = None) -> str:
        name = self._name("_dbos")
        create = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        deadline = time.monotonic() + 30
        while True:
            try:
                self.admin.execute(create)
                break
            except self.psycopg.errors.ObjectInUse:  # the killed process's session lingers
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.databases.append(name)
        return urlunsplit(self.parts._replace(path=f"/{name}"))

    def dbos_copy(self, url: str) -> str:
        return self.dbos_database(template=urlsplit(url).path.lstrip("/"))

    def describe(self) -> dict:
        def show(setting: str) -> str:
            return self.admin.execute(f"SHOW {setting}").fetchone()[0]

        return {
            "kind": self.kind,
            "location": self.shown,
            "server": show("server_version"),
            "fsync": show("fsync"),
            "synchronous_commit": show("synchronous_commit"),
        }

    def close(self) -> None:
        try:
            for name in self.databases:
                self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            for name in self.schemas:
                self.admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            self.admin.close()


@dataclass
class Bench:
    root: Path
    quiet: bool
    durable: list[str]
    dbos: bool
    stores: Directories | PostgreSQL
    last_cpu: float = 0.0
    log: list[str] = field(default_factory=list)

    # ----- layout and processes -----------------------------------------------------------------

    @property
    def scripts(self) -> Path:
        return self.root / "scripts"

    def env(self, store: str | None = None, **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DURABLE_PYTHON_") and k != "PYTHONHASHSEED"
        }
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(self.root / "ext"), os.environ.get("PYTHONPATH")) if p
        )
        env["DURABLE_PYTHON_CACHE"] = str(self.root / "cache")
        if store is not None:
            env["DURABLE_PYTHON_STORE"] = store
        env.update(extra)
        return env

    def run(self, command: list[str], env: dict[str, str], expect: int = 0) -> tuple[str, str, int]:
        """Run a process to its end; return stdout, stderr and its spawn time (monotonic ns).

        Its CPU time (user + system) is left in ``last_cpu``: on a busy machine it moves less
        than wall time does."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        spawned = time.monotonic_ns()
        done = subprocess.run(
            command, cwd=self.root, env=env, capture_output=True, text=True, timeout=1800
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.last_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        if done.returncode != expect:
            raise SystemExit(
                f"journal bench: {' '.join(command)} exited {done.returncode}, expected {expect}\n"
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        return done.stdout, done.stderr, spawned

    def note(self, text: str) -> None:
        self.log.append(text)
        if not self.quiet:
            print(f"  .. {text}", file=sys.stderr, flush=True)

    def durable_run(self, store: str, script: str, *args: str, sync: bool = True, **env: str):
        flag = "--sync" if sync else "--no-sync"
        command = [*self.durable, "run", flag, str(self.scripts / script), *args]
        expect = -9 if env.get("BENCH_KILL") else 0  # killed by SIGKILL (its marker effect)
        result = self.run(command, self.env(store, **env), expect)
        if not env.get("BENCH_KILL"):
            wait_for_fold(store)
        return result

    def plain_run(self, script: str, *args: str, expect: int = 0, **env: str):
        command = [sys.executable, str(self.scripts / script), *args]
        return self.run(command, self.env(None, **env), expect)


def wait_for_fold(store: str, timeout: float = 300.0) -> None:
    """Wait until no detached ``durable-python fold`` of ``store`` runs (it would otherwise
    compete for the 2 cores with the next measurement). A run starts one only once a few runs
    have stopped unfolded, so there may be none to wait for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _folds_running(store):
            return
        time.sleep(0.02)
    raise SystemExit(f"journal bench: the fold of {store} did not finish in {timeout:.0f} s")


def _folds_running(store: str) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"fold" in words and store.encode() in words:
            return True
    return False


def per_call(stdout: str) -> float:
    found = re.search(r"^per_call_s (\S+)$", stdout, re.MULTILINE)
    if found is None:
        raise SystemExit(f"journal bench: no per_call_s line in:\n{stdout[-2000:]}")
    return float(found.group(1))


def read_mark(path: Path) -> int:
    return int(path.read_text())


def median(values: list[float]) -> float:
    return statistics.median(values)


# ----- (a) effects ----------------------------------------------------------------------------


def bench_effects(bench: Bench, sizes: Sizes) -> dict:
    n = str(sizes.effects)
    stores = bench.stores
    bench.durable_run(stores.store(), "effects.py", "10")  # warm the code cache
    plain, synced, unsynced, floor = [], [], [], []
    for _ in range(sizes.reps):  # interleaved: the disk's fdatasync latency drifts
        plain.append(per_call(bench.plain_run("effects.py", n)[0]))
        floor.append(stores.floor(sizes.floor))
        synced.append(per_call(bench.durable_run(stores.store(), "effects.py", n)[0]))
        unsynced.append(per_call(bench.durable_run(stores.store(), "effects.py", n, sync=False)[0]))
    bench.note(f"(a) effects: plain {plain}, sync {synced}, no-sync {unsynced}, floor {floor}")
    result = {
        "calls": sizes.effects,
        "reps": sizes.reps,
        "plain_ms": median(plain) * 1e3,
        "durable_sync_ms": median(synced) * 1e3,
        "durable_nosync_ms": median(unsynced) * 1e3,
        "floor_ms": median(floor) * 1e3,
        "dbos_ms": None,
    }
    if bench.dbos:
        steps = []
        for _ in range(sizes.dbos_reps):
            database = stores.dbos_database()
            out, _, _ = bench.plain_run("dbos_steps.py", str(sizes.dbos_effects), database)
            steps.append(per_call(out))
        bench.note(f"(a) DBOS steps: {steps}")
        result.update(
            dbos_ms=median(steps) * 1e3, dbos_calls=sizes.dbos_effects, dbos_reps=sizes.dbos_reps
        )
    return result


# ----- (b) values -----------------------------------------------------------------------------


def bench_values(bench: Bench, sizes: Sizes) -> dict:
    n = str(sizes.values)
    bench.durable_run(bench.stores.store(), "values.py", "10")
    plain, durable, plain_pc, durable_pc = [], [], [], []
    for _ in range(sizes.reps):
        plain.append(per_call(bench.plain_run("values.py", n)[0]))
        durable.append(per_call(bench.durable_run(bench.stores.store(), "values.py", n)[0]))
        plain_pc.append(per_call(bench.plain_run("values.py", n, "perf_counter")[0]))
        store = bench.stores.store()
        durable_pc.append(per_call(bench.durable_run(store, "values.py", n, "perf_counter")[0]))
    bench.note(f"(b) values: plain {plain}, durable {durable}")
    bench.note(f"(b) perf_counter values: plain {plain_pc}, durable {durable_pc}")
    return {
        "calls": sizes.values,
        "reps": sizes.reps,
        "plain_per_s": 1 / median(plain),
        "durable_per_s": 1 / median(durable),
        "plain_perf_counter_us": median(plain_pc) * 1e6,
        "durable_perf_counter_us": median(durable_pc) * 1e6,
    }


# ----- (c) resume -----------------------------------------------------------------------------


def time_to_mark(bench: Bench, run) -> tuple[float, float, str]:
    """Seconds from spawning the process ``run`` starts to its marker effect, the CPU seconds
    of the whole process, and its stderr."""
    mark = bench.root / "mark"
    mark.unlink(missing_ok=True)
    _, stderr, spawned = run(mark)
    return (read_mark(mark) - spawned) / 1e9, bench.last_cpu, stderr


def bench_resume(bench: Bench, sizes: Sizes) -> dict:
    n = str(sizes.resume)
    stores = bench.stores
    killed = stores.store()
    bench.durable_run(stores.store(), "resume.py", "1", str(bench.root / "mark"))
    started = time.monotonic()
    bench.durable_run(killed, "resume.py", n, str(bench.root / "mark"), sync=False, BENCH_KILL="1")
    first_run = time.monotonic() - started
    bases = stores.resume_bases(bench, killed)  # by kind; the first is the one targets are on

    walls: dict[str, list[float]] = {k: [] for k in ("plain", "fresh", *bases)}
    cpus: dict[str, list[float]] = {k: [] for k in walls}
    recorded = set()
    for _ in range(sizes.reps):
        seconds, cpu, _ = time_to_mark(bench, lambda m: bench.plain_run("resume.py", "0", str(m)))
        walls["plain"].append(seconds)
        cpus["plain"].append(cpu)
        seconds, cpu, _ = time_to_mark(
            bench, lambda m: bench.durable_run(stores.store(), "resume.py", "0", str(m))
        )
        walls["fresh"].append(seconds)
        cpus["fresh"].append(cpu)
        for kind, base in bases.items():
            store = stores.copy(base)
            seconds, cpu, stderr = time_to_mark(
                bench, lambda m, s=store: bench.durable_run(s, "resume.py", n, str(m))
            )
            walls[kind].append(seconds)
            cpus[kind].append(cpu)
            found = re.search(r"resuming run \S+ \((\d+) recorded entries\)", stderr)
            recorded.add(int(found.group(1)) if found else None)
    bench.note(f"(c) first run of {n} effects (--no-sync) until killed: {first_run:.2f} s")
    bench.note(f"(c) time to frontier {walls}")
    bench.note(f"(c) CPU of the whole process {cpus}")
    if recorded != {sizes.resume}:
        raise SystemExit(f"journal bench: the reruns resumed {recorded} entries, not {n}")
    result = {
        "entries": sizes.resume,
        "reps": sizes.reps,
        "plain_startup_s": median(walls["plain"]),
        "durable_fresh_s": median(walls["fresh"]),
        "kinds": list(bases),
        **{f"resume_{kind}_s": median(walls[kind]) for kind in bases},
        "cpu_s": {kind: median(values) for kind, values in cpus.items()},
        "dbos": None,
    }
    if bench.dbos:
        result["dbos"] = bench_dbos_resume(bench, sizes)
    return result


def bench_dbos_resume(bench: Bench, sizes: Sizes) -> dict:
    """DBOS recovery at two sizes: its recovery has a fixed cost beyond a fresh start, so the
    per-step rate used for extrapolation is the marginal one between the two sizes."""
    stores = bench.stores
    sizes_n = (sizes.dbos_resume_small, sizes.dbos_resume)
    crashed = {}
    for n in sizes_n:
        crashed[n] = stores.dbos_database()
        started = time.monotonic()
        bench.plain_run(
            "dbos_resume.py", str(n), crashed[n], str(bench.root / "mark"),
            expect=-9, BENCH_KILL="1",
        )  # fmt: skip
        bench.note(
            f"(c) DBOS first run of {n} steps until killed: {time.monotonic() - started:.2f} s"
        )
    fresh: list[float] = []
    recovered: dict[int, list[float]] = {n: [] for n in sizes_n}
    for _ in range(sizes.dbos_reps):
        database = stores.dbos_database()
        seconds, _, _ = time_to_mark(
            bench,
            lambda m, d=database: bench.plain_run(
                "dbos_resume.py", "0", d, str(m), BENCH_FRESH="1"
            ),
        )
        fresh.append(seconds)
        for n in sizes_n:
            copy = stores.dbos_copy(crashed[n])
            seconds, _, _ = time_to_mark(
                bench,
                lambda m, d=copy, n=n: bench.plain_run("dbos_resume.py", str(n), d, str(m)),
            )
            recovered[n].append(seconds)
    bench.note(f"(c) DBOS fresh {fresh}, recovered {recovered}")
    return {
        "entries": sizes.dbos_resume,
        "entries_small": sizes.dbos_resume_small,
        "reps": sizes.dbos_reps,
        "fresh_s": median(fresh),
        "recover_s": median(recovered[sizes.dbos_resume]),
        "recover_small_s": median(recovered[sizes.dbos_resume_small]),
    }


# ----- report ---------------------------------------------------------------------------------


def machine() -> dict:
    info = {
        "nproc": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "load_before": round(os.getloadavg()[0], 2),
    }
    found = subprocess.run(
        [sys.executable, "-c", "import durable_python; print(durable_python.__file__)"],
        capture_output=True,
        text=True,
    )
    info["durable_python_path"] = location = found.stdout.strip() or None
    if location:  # an editable install: which commit, and whether the tree had changes
        described = subprocess.run(
            ["git", "-C", os.path.dirname(location), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
        )
        info["durable_python_git"] = described.stdout.strip() or None
    try:
        from importlib.metadata import version

        info["durable_python"] = version("durable-python")
        info["dbos"] = version("dbos")
    except Exception:  # noqa: BLE001 - a missing package is reported as missing
        info.setdefault("dbos", None)
    return info


def derive(results: dict) -> dict:
    """The figures the issue asks for, with their targets."""
    a, b, c = results["effects"], results["values"], results["resume"]
    out: dict = {}
    out["effect_sync_ms"] = a["durable_sync_ms"]
    out["effect_nosync_ms"] = a["durable_nosync_ms"]
    out["effect_sync_over_plain_ms"] = a["durable_sync_ms"] - a["plain_ms"]
    out["effect_nosync_over_plain_ms"] = a["durable_nosync_ms"] - a["plain_ms"]
    out["effect_sync_over_floor_ms"] = a["durable_sync_ms"] - a["floor_ms"]
    if a["dbos_ms"]:
        out["dbos_over_durable_sync"] = a["dbos_ms"] / a["durable_sync_ms"]
        out["dbos_over_durable_nosync"] = a["dbos_ms"] / a["durable_nosync_ms"]
    out["values_per_s"] = b["durable_per_s"]
    out["values_plain_over_durable"] = b["plain_per_s"] / b["durable_per_s"]
    n, primary = c["entries"], c["kinds"][0]
    for kind in c["kinds"]:  # the first kind's figures are unsuffixed: the targets are on them
        suffix = "" if kind == primary else f"_{kind}"
        out[f"resume{suffix}_over_plain_s"] = c[f"resume_{kind}_s"] - c["plain_startup_s"]
        replay = c[f"resume_{kind}_s"] - c["durable_fresh_s"]
        out[f"replay{suffix}_per_s"] = n / replay if replay > 0 else float("inf")
    out["resume_cpu_over_plain_s"] = c["cpu_s"][primary] - c["cpu_s"]["plain"]
    d = c["dbos"]
    if d:
        out["dbos_replay_per_s"] = d["entries"] / (d["recover_s"] - d["fresh_s"])
        marginal = d["recover_s"] - d["recover_small_s"]
        if marginal > 0:  # at --quick sizes the difference can drown in noise
            out["dbos_marginal_per_s"] = (d["entries"] - d["entries_small"]) / marginal
            rate = out["dbos_marginal_per_s"]
        else:
            out["dbos_marginal_per_s"] = None
            rate = out["dbos_replay_per_s"]
        out["dbos_extrapolated_over_plain_s"] = (
            d["recover_s"] - c["plain_startup_s"] + (n - d["entries"]) / rate
        )
        out["replay_rate_over_dbos"] = out["replay_per_s"] / rate
    return out


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def row(label: str, value: str, note: str = "") -> str:
    return f"    {label:54} {value:>18}{'   ' + note if note else ''}"


def report(results: dict) -> str:
    m, a, b, c, f = (results[k] for k in ("machine", "effects", "values", "resume", "figures"))
    s, label = results["store"], LABELS[results["store"]["kind"]]
    d = c["dbos"]
    n = c["entries"]
    cpu = c["cpu_s"]
    primary = RESUME_LABELS[c["kinds"][0]]
    lines = [
        f"machine: {m['nproc']} cores, {m['python']}, {m['platform']}; durable-python"
        f" {m.get('durable_python')}, dbos {m.get('dbos') or 'not installed'}",
        f"runtime: {m.get('durable_python_path')}"
        f"{' (git ' + m['durable_python_git'] + ')' if m.get('durable_python_git') else ''};"
        f" load average {m['load_before']} before,"
        f" {m.get('load_after')} after (other work on the machine makes the figures noisy)",
    ]
    if s["kind"] == "postgresql":
        lines.append(
            f"store: PostgreSQL {s['server']} at {s['location']} (fsync {s['fsync']},"
            f" synchronous_commit {s['synchronous_commit']}), a schema per measurement;"
            " DBOS on the same server, a database per measurement"
        )
    if results["quick"]:
        lines.append("--quick: smoke sizes, not figures to quote")
    lines += [
        "",
        "(a) one effect: a call of a trivial external function, in-process time per call,"
        f" median of {a['reps']} runs of {a['calls']:,} calls",
        row("plain python", f"{a['plain_ms']:.4f} ms/call"),
        row(label["sync_row"], f"{a['durable_sync_ms']:.4f} ms"),
        row(label["nosync_row"], f"{a['durable_nosync_ms']:.4f} ms"),
        row(label["floor_row"], f"{a['floor_ms']:.4f} ms"),
    ]
    if a["dbos_ms"]:
        lines.append(
            row(
                f"DBOS step on {label['dbos']}",
                f"{a['dbos_ms']:.4f} ms",
                f"median of {a['dbos_reps']} runs of {a['dbos_calls']:,} steps",
            )
        )
    lines += [
        "",
        f"(b) value entries: time.time() in a loop, median of {b['reps']} runs of"
        f" {b['calls']:,} calls",
        row("plain python", f"{b['plain_per_s']:,.0f} calls/s"),
        row("durable-python", f"{b['durable_per_s']:,.0f} entries/s"),
        row("plain python, time.perf_counter()", f"{b['plain_perf_counter_us']:.3f} us/call"),
        row("durable-python, time.perf_counter()", f"{b['durable_perf_counter_us']:.3f} us/entry"),
        "",
        "(c) resume after a SIGKILL at the frontier: time from spawning the rerun to its first"
        f" live effect, median of {c['reps']}",
        row(
            "plain python, the same script with N=0",
            f"{c['plain_startup_s']:.3f} s",
            f"process CPU {cpu['plain']:.3f} s",
        ),
        row(
            "durable-python, fresh run with N=0",
            f"{c['durable_fresh_s']:.3f} s",
            f"process CPU {cpu['fresh']:.3f} s",
        ),
    ]
    lines += [
        row(
            f"durable-python resume, {n:,} entries in {RESUME_LABELS[kind]}",
            f"{c[f'resume_{kind}_s']:.3f} s",
            f"process CPU {cpu[kind]:.3f} s"
            + ("  (run folded before the rerun)" if kind == "duckdb" else ""),
        )
        for kind in c["kinds"]
    ]
    if d:
        lines += [
            row("DBOS, fresh workflow with N=0", f"{d['fresh_s']:.3f} s"),
            row(
                f"DBOS recovery, {d['entries_small']:,} steps",
                f"{d['recover_small_s']:.3f} s",
                f"median of {d['reps']}",
            ),
            row(
                f"DBOS recovery, {d['entries']:,} steps",
                f"{d['recover_s']:.3f} s",
                f"median of {d['reps']}",
            ),
        ]
    lines += [
        "",
        "figures derived from the rows above",
        row(
            f"effect overhead over plain, {label['sync']}",
            f"{f['effect_sync_over_plain_ms']:.4f} ms",
        ),
        row("effect overhead over plain, --no-sync", f"{f['effect_nosync_over_plain_ms']:.4f} ms"),
        row(
            f"effect ({label['sync']}) minus the {label['floor']}",
            f"{f['effect_sync_over_floor_ms']:.4f} ms",
        ),
    ]
    if "dbos_over_durable_sync" in f:
        lines += [
            row(
                f"DBOS step / durable-python effect, {label['sync']}",
                f"{f['dbos_over_durable_sync']:.1f} x",
            ),
            row(
                "DBOS step / durable-python effect, --no-sync",
                f"{f['dbos_over_durable_nosync']:.1f} x",
            ),
        ]
    lines += [
        row(
            "plain time.time() rate / durable-python value rate",
            f"{f['values_plain_over_durable']:.1f} x",
        ),
    ]
    suffixes = {
        RESUME_LABELS[kind]: "" if kind == c["kinds"][0] else f"_{kind}" for kind in c["kinds"]
    }  # the figures' names, by the label shown (as derive names them)
    lines += [
        row(f"resume minus plain-python startup ({shown})", f"{f[f'resume{x}_over_plain_s']:.3f} s")
        for shown, x in suffixes.items()
    ]
    lines.append(
        row(
            f"resume process CPU minus plain python's ({primary})",
            f"{f['resume_cpu_over_plain_s']:.3f} s",
            "(whole process, less sensitive to a busy machine)",
        )
    )
    lines += [
        row(f"replay rate N / (resume - fresh run), {shown}", f"{f[f'replay{x}_per_s']:,.0f} /s")
        for shown, x in suffixes.items()
    ]
    if d:
        lines += [
            row("DBOS replay rate N / (recovery - fresh)", f"{f['dbos_replay_per_s']:,.0f} /s"),
            row(
                f"DBOS marginal replay rate, {d['entries_small']:,} -> {d['entries']:,} steps",
                "n/a (noise)"
                if f["dbos_marginal_per_s"] is None
                else f"{f['dbos_marginal_per_s']:,.0f} /s",
            ),
            row(
                "durable-python replay rate / DBOS's (marginal if known)",
                f"{f['replay_rate_over_dbos']:.1f} x",
            ),
            row(
                f"DBOS recovery of {n:,} minus plain startup",
                f"{f['dbos_extrapolated_over_plain_s']:.1f} s",
                f"EXTRAPOLATED from {d['entries']:,} steps at the rate above",
            ),
        ]
    lines += ["", "targets"]
    lines += [row(name, shown, verdict(ok)) for name, shown, ok in targets(results)]
    return "\n".join(lines)


def targets(results: dict) -> list[tuple[str, str, bool]]:
    a, c, f = results["effects"], results["resume"], results["figures"]
    kind = results["store"]["kind"]
    target, sync = TARGETS[kind], LABELS[kind]["sync"]
    rows = [
        (
            f"effect <= {target['effect_ms']} ms ({sync})",
            f"{a['durable_sync_ms']:.3f} ms",
            a["durable_sync_ms"] <= target["effect_ms"],
        ),
        (
            f"effect <= {target['effect_ms']} ms (--no-sync)",
            f"{a['durable_nosync_ms']:.3f} ms",
            a["durable_nosync_ms"] <= target["effect_ms"],
        ),
    ]
    if "dbos_over_durable_sync" in f:
        rows.append(
            (
                f"DBOS step >= {target['vs_dbos']:g}x an effect ({sync})",
                f"{f['dbos_over_durable_sync']:.1f} x",
                f["dbos_over_durable_sync"] >= target["vs_dbos"],
            )
        )
    if "values_per_s" in target:
        rows.append(
            (
                f"value entries >= {target['values_per_s']:,}/s",
                f"{f['values_per_s']:,.0f}/s",
                f["values_per_s"] >= target["values_per_s"],
            )
        )
    if "value_us" in target:
        value_us = results["values"]["durable_perf_counter_us"]
        rows.append(
            (
                f"time.perf_counter() value entry <= {target['value_us']:g} us",
                f"{value_us:.3f} us",
                value_us <= target["value_us"],
            )
        )
    primary = RESUME_LABELS[c["kinds"][0]]
    if "resume_s" in target:
        rows.append(
            (
                f"resume of {c['entries']:,} <= {target['resume_s']:g} s ({primary})",
                f"{f['resume_over_plain_s']:.3f} s",
                f["resume_over_plain_s"] <= target["resume_s"],
            )
        )
    if "replay_per_s" in target:
        rows.append(
            (
                f"resume of {c['entries']:,} >= {target['replay_per_s']:,} entries/s ({primary})",
                f"{f['replay_per_s']:,.0f}/s",
                f["replay_per_s"] >= target["replay_per_s"],
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-dbos", action="store_true", help="skip the DBOS rows")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--dir", help="where to make the scratch directory (default: $TMPDIR)")
    parser.add_argument("--reps", type=int, help="repetitions (default 5, --quick 2)")
    parser.add_argument(
        "--store",
        metavar="URL",
        help="measure the PostgreSQL store at this postgresql:// URL (a schema per measurement),"
        " against DBOS on the same server (default: local store directories)",
    )
    args = parser.parse_args(argv)
    if args.store and not args.store.startswith(("postgresql://", "postgres://")):
        parser.error("--store takes a postgresql:// URL (--dir chooses where local stores go)")
    sizes = QUICK if args.quick else FULL
    if args.reps:
        sizes = dataclasses.replace(sizes, reps=args.reps, dbos_reps=args.reps)

    dbos = not args.no_dbos
    if dbos:
        try:
            import dbos as _  # noqa: F401
        except ImportError:
            print(
                "journal bench: dbos is not installed (pip install -e '.[bench]');"
                " skipping the DBOS rows",
                file=sys.stderr,
            )
            dbos = False
    executable = Path(sys.executable).with_name("durable-python")
    durable = [str(executable)] if executable.exists() else [sys.executable, "-m", "durable_python"]

    server = PostgreSQL(args.store) if args.store else None  # connected now, or an error now
    root = Path(tempfile.mkdtemp(prefix="durable-journal-bench-", dir=args.dir))
    stores = server or Directories(root)
    try:
        (root / "scripts").mkdir()
        (root / "ext").mkdir()
        shutil.copy(WORKLOADS / "bench_ext.py", root / "ext")
        for script in ("effects.py", "values.py", "resume.py", "dbos_steps.py", "dbos_resume.py"):
            shutil.copy(WORKLOADS / script, root / "scripts")
        bench = Bench(root=root, quiet=args.json, durable=durable, dbos=dbos, stores=stores)
        results = {"quick": args.quick, "machine": machine(), "scratch": str(root)}
        results["store"] = stores.describe()
        results["effects"] = bench_effects(bench, sizes)
        results["values"] = bench_values(bench, sizes)
        results["resume"] = bench_resume(bench, sizes)
        results["machine"]["load_after"] = round(os.getloadavg()[0], 2)
        results["figures"] = derive(results)
        results["targets"] = [
            {"target": name, "measured": shown, "met": ok} for name, shown, ok in targets(results)
        ]
        results["log"] = bench.log
    finally:
        stores.close()  # the schemas and databases on a server go, even with --keep
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
