"""Kill ``durable-python run`` with SIGKILL, run the same command again, compare with a run that was
never interrupted: stdout printed once, files, the witness server's request counts, and values.

Kill points come from the test hook ``DURABLE_PYTHON_TEST_KILL_AT=N`` (the process kills itself
right after the commit that brings its journal to N entries) and from wall-clock moments.
"""

from __future__ import annotations

import ast
import json
import random
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.e2e

WORKFLOW = """
    import datetime
    import os
    import random
    import sys
    import time
    import uuid

    import witness_client

    base = sys.argv[1]


    def values():
        # Nondeterministic reads: the same on replay as the first time.
        return " ".join(
            [
                str(uuid.uuid4()),
                repr(time.time()),
                repr(random.random()),
                os.urandom(4).hex(),
                os.environ.get("E2E_TOKEN", "-"),
                datetime.datetime.now().isoformat(),
                # A set built at run time: its order is the run's hash seed's. (A constant set
                # display is the subject of test_constant_set_order_is_the_same_after_resume.)
                ",".join(set("alpha beta gamma delta epsilon zeta".split())),
            ]
        )


    first = values()
    sys.stdout.write(f"values-first {first}\\n")
    for step in range(4):
        reply = witness_client.hit(f"{base}/step/{step}")
        print("step", step, "done", reply["path"].rsplit("/", 2)[-2:])
        if step % 2:
            time.sleep(0.01)
        with open(f"out-{step}.txt", "w") as f:
            f.write(f"step {step}\\n")
    middle = values()
    sys.stdout.write(f"values-middle {middle}\\n")
    try:
        witness_client.fail(f"{base}/fail")
    except witness_client.WitnessError as exc:
        print("caught", type(exc).__name__, exc.status, exc.path.rsplit("/", 1)[-1])
    witness_client.hit(f"{base}/last")
    with open("values.txt", "w") as f:
        f.write(first + "\\n" + middle + "\\n")
    sys.stdout.write(f"values-again {first} | {middle}\\n")
    print("done")
"""

# The same work, slower (sleeps between steps), so wall-clock kills land all along it.
SLOW_WORKFLOW = WORKFLOW.replace("range(4)", "range(10)").replace(
    "if step % 2:\n            time.sleep(0.01)", "time.sleep(0.1)"
)
assert "range(10)" in SLOW_WORKFLOW and "time.sleep(0.1)" in SLOW_WORKFLOW


def normalize_values(text: str) -> str:
    return re.sub(r"^(values-\w+) .*$", r"\1 *", text, flags=re.M)


def check_values(series, files: dict[str, str]) -> None:
    """The values the resumed run ended with are the ones printed before the crashes: a value is
    committed before a line shows it, so every ``values-first``/``values-middle`` line (a line
    may be printed again after a crash) shows the same values, including the environment read of
    the attempt that made it, which is no later than the first attempt printing it."""
    seen: dict[str, set[str]] = {}
    first_printed = None
    for index, attempt in enumerate(series.attempts):
        for line in attempt.stdout.splitlines():
            kind, _, content = line.partition(" ")
            if kind in ("values-first", "values-middle", "values-again"):
                seen.setdefault(kind, set()).add(content)
            if kind == "values-first" and first_printed is None:
                first_printed = index
    assert all(len(found) == 1 for found in seen.values()), f"values changed:\n{series}"
    (first,), (middle,), (again,) = (
        seen["values-first"],
        seen["values-middle"],
        seen["values-again"],
    )
    assert again == f"{first} | {middle}", f"values changed across crashes:\n{series}"
    assert files["values.txt"] == f"{first}\n{middle}\n"
    read_by = int(first.split()[4].removeprefix("token-"))
    assert read_by <= first_printed, f"an environment read was not replayed:\n{series}"
    assert first.split()[0] != middle.split()[0]


@pytest.fixture(scope="module")
def workflow_baseline(new_harness):
    """The uninterrupted run of WORKFLOW: stdout, files, effect counts, journal length."""
    dp = new_harness("baseline")
    dp.write("workflow.py", WORKFLOW)
    prefix = dp.prefix("base")
    done = dp.run("workflow.py", dp.url(prefix), env={"E2E_TOKEN": "token-0"})
    assert done.returncode == 0, done
    run = dp.run_of("workflow.py")
    assert run["status"] == "completed"
    return {
        "stdout": done.stdout,
        "files": dp.files(),
        "counts": dp.counts(prefix),
        "entries": run["entries"],
    }


def test_baseline_shape(workflow_baseline):
    assert workflow_baseline["counts"] == {
        "/step/0": 1,
        "/step/1": 1,
        "/step/2": 1,
        "/step/3": 1,
        "/fail": 1,
        "/last": 1,
    }
    lines = normalize_values(workflow_baseline["stdout"]).splitlines()
    assert lines[0] == "values-first *"
    assert "caught WitnessError 500 fail" in lines
    assert lines[-1] == "done"
    # Each values() records five values (uuid, time, urandom, environ, now); with the outputs,
    # effects and timers the journal is long enough to be worth killing at every entry.
    assert workflow_baseline["entries"] >= 20


def _check_series(dp, series, prefix, baseline):
    assert series.final.returncode == 0, series
    dp.assert_resumed_output(baseline["stdout"], series, normalize=normalize_values)
    files = dp.files()
    assert files.keys() == baseline["files"].keys(), series
    assert {k: v for k, v in files.items() if k != "values.txt"} == {
        k: v for k, v in baseline["files"].items() if k != "values.txt"
    }
    dp.assert_effects(baseline["counts"], dp.counts(prefix), series)
    check_values(series, files)


def _kill_at_one_entry(dp, script, baseline, n):
    """One crash at journal entry ``n``, with its own working directory and store."""
    prefix = dp.prefix(f"at{n}-")
    series = dp.run_with_kills(
        script,
        dp.url(prefix),
        kill_ats=[n],
        env_per_attempt=[{"E2E_TOKEN": f"token-{i}"} for i in range(3)],
    )
    assert series.crashes == 1, f"N={n}: expected one kill\n{series}"
    assert "resuming run" in series.final.stderr, series
    _check_series(dp, series, prefix, baseline)
    return series.exact[0]


def test_kill_at_every_journal_entry(dp, workflow_baseline):
    """Kill at each entry N of the journal in turn, resume, compare with the uninterrupted run.

    The N series are independent (each its own working directory and store; one script file,
    so its rewritten code is cached once), so two run at a time.
    """
    script = str(dp.write("workflow.py", WORKFLOW))
    entries = range(1, workflow_baseline["entries"] + 1)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            n: pool.submit(_kill_at_one_entry, dp.child(f"n{n}"), script, workflow_baseline, n)
            for n in entries
        }
    failures = {}
    exact = 0
    for n, future in futures.items():
        try:
            exact += future.result()
        except AssertionError as exc:
            failures[n] = exc
    assert not failures, "\n\n".join(f"N={n}: {exc}" for n, exc in failures.items())
    # Kills right after an effect's commit are the common case; the harness is not vacuous.
    assert exact >= len(entries) // 3, exact


@pytest.mark.parametrize("kill_ats", [[2, 9, 16], [5, 6], [1, 3, 5]])
def test_several_kills_in_one_run(dp, workflow_baseline, kill_ats):
    dp.write("workflow.py", WORKFLOW)
    prefix = dp.prefix("multi")
    series = dp.run_with_kills(
        "workflow.py",
        dp.url(prefix),
        kill_ats=kill_ats,
        env_per_attempt=[{"E2E_TOKEN": f"token-{i}"} for i in range(len(kill_ats) + 2)],
    )
    assert series.crashes == len(kill_ats), series
    _check_series(dp, series, prefix, workflow_baseline)


def test_kills_are_reported_as_crashed_runs(dp):
    dp.write("workflow.py", WORKFLOW)
    prefix = dp.prefix("crashed")
    killed = dp.run("workflow.py", dp.url(prefix), kill_at=8)
    assert killed.killed, killed
    run = dp.run_of("workflow.py")
    assert run["status"] == "crashed"
    assert 8 <= run["entries"]


@pytest.fixture(scope="module")
def slow_baseline(new_harness):
    dp = new_harness("slow_baseline")
    dp.write("slow.py", SLOW_WORKFLOW)
    prefix = dp.prefix("slowbase")
    done = dp.run("slow.py", dp.url(prefix), env={"E2E_TOKEN": "token-0"})
    assert done.returncode == 0, done
    return {
        "stdout": done.stdout,
        "files": dp.files(),
        "counts": dp.counts(prefix),
        "seconds": done.seconds,
    }


@pytest.mark.parametrize("seed", range(6))
def test_kill_at_random_moments(dp, slow_baseline, seed):
    """SIGKILL at random wall-clock moments, up to three times, then run to the end.

    Moments are drawn from 0.05 s to the length of an uninterrupted run on this machine (at
    least 1.5 s), so that on a slow or loaded machine kills still land all along the run
    rather than all in the interpreter's start-up.
    """
    rng = random.Random(seed)
    longest = max(1.5, slow_baseline["seconds"])
    delays = [round(rng.uniform(0.05, longest), 3) for _ in range(rng.randint(1, 3))]
    dp.write("slow.py", SLOW_WORKFLOW)
    prefix = dp.prefix(f"random{seed}-")
    series = dp.run_with_random_kills(
        "slow.py",
        dp.url(prefix),
        delays=delays,
        env_per_attempt=[{"E2E_TOKEN": f"token-{i}"} for i in range(8)],
    )
    if series.final.killed:  # the last kill came after the run was recorded as completed
        assert dp.run_of("slow.py")["status"] == "completed"
    else:
        assert series.final.returncode == 0, series
    dp.assert_resumed_output(slow_baseline["stdout"], series, normalize=normalize_values)
    files = dp.files()
    assert {k: v for k, v in files.items() if k != "values.txt"} == {
        k: v for k, v in slow_baseline["files"].items() if k != "values.txt"
    }
    dp.assert_effects(slow_baseline["counts"], dp.counts(prefix), series)
    check_values(series, files)


VALUE_LOOP = """
    import os
    import random
    import time

    clocks, draws, randoms = [], [], []
    for i in range(3000):
        clocks.append(time.perf_counter())
        clocks.append(time.time_ns())
        draws.append(os.urandom(2))
        randoms.append(random.random())  # the run's own generator, seeded once (recorded)
        if i % 1000 == 999:
            print("read", i + 1)
    print("clocks", repr(sum(clocks)), "draws", b"".join(draws).hex(), "random", len(randoms))
"""


@pytest.mark.parametrize("kill_at", [1500, 8000])
def test_values_read_in_a_loop_are_replayed_after_a_kill(dp, kill_at):
    """Values read in a loop wait raw in the journal's batch (the C fast path, or its Python
    twin) until a commit makes them records. Killed after the commit of a printed line amid the
    loop (1500) or at its end (8000), the rerun replays every committed read, records the rest,
    and ends with exactly the values its journal holds, in order."""
    dp.write("loop.py", VALUE_LOOP)
    series = dp.run_with_kills("loop.py", kill_ats=[kill_at])
    assert series.attempts[0].killed and series.final.returncode == 0, series
    values = sorted((e for e in series.entries if e["policy"] == "value"), key=lambda e: e["seq"])
    names = ["time.perf_counter", "time.time_ns", "posix.urandom"]
    assert [e["name"] for e in values] == names * 3000, series
    clocks = sum(e["value"] for e in values if e["name"] != "posix.urandom")
    draws = b"".join(ast.literal_eval(e["summary"]) for e in values if e["name"] == "posix.urandom")
    last = f"clocks {clocks!r} draws {draws.hex()} random 3000"
    assert series.final.stdout.splitlines()[-1] == last, series
    assert any(e["ended"] <= series.attempts[0].ended_at for e in values), series


# ----- effects in flight, sleeps, exceptions, unsaved results, files ---------------------------

IN_FLIGHT = """
    import sys

    import witness_client

    base = sys.argv[1]
    witness_client.hit(base + "/before")
    print("before")
    witness_client.hit(base + "/slow?sleep=2.0")
    print("slow")
    witness_client.hit(base + "/after")
    print("after")
"""


def test_effect_in_flight_at_a_kill_runs_again_once(dp):
    """The one call that may run twice is the one in flight when the process died."""
    dp.write("inflight.py", IN_FLIGHT)
    prefix = dp.prefix("inflight")
    process = dp.start("run", "inflight.py", dp.url(prefix))
    deadline = time.monotonic() + 30
    while dp.counts(prefix).get("/slow", 0) == 0:  # the slow call has reached the server
        assert process.poll() is None and time.monotonic() < deadline, "never reached /slow"
        time.sleep(0.01)
    # Past the flusher's interval, so "before" is committed: only the effect is in flight.
    time.sleep(0.6)
    process.kill()
    first = process.finish()
    assert first.killed
    second = dp.run("inflight.py", dp.url(prefix))
    assert second.returncode == 0, second
    assert first.stdout + second.stdout == "before\nslow\nafter\n"
    assert dp.counts(prefix) == {"/before": 1, "/slow": 2, "/after": 1}


SLEEPER = """
    import sys
    import time

    import witness_client

    base = sys.argv[1]
    print("sleeping")
    time.sleep(10)
    print("awake", repr(time.time()))
    witness_client.hit(base + "/after")
    print("done")
"""


def test_durable_sleep_resumes_with_only_the_time_left(dp):
    """Killed 2 s into ``time.sleep(10)``: the resumed run wakes at the recorded deadline, not 10
    s after its restart; once the deadline has passed, a replayed sleep does not sleep at all.
    (The sleep is long so that a start-up slowed down by a loaded machine stays far from it.)"""
    dp.write("sleeper.py", SLEEPER)
    prefix = dp.prefix("sleep")
    process = dp.start("run", "sleeper.py", dp.url(prefix))
    line = process.readline()
    assert line == "sleeping\n"
    time.sleep(2.0)
    process.kill()
    first = process.finish()  # its stdout: all it printed, the line read above included
    assert first.killed, first
    # Resume and kill right after the effect that follows the sleep (entries: output, timer,
    # value, output, effect), then resume again: everything is replayed, the sleep included.
    second = dp.run("sleeper.py", dp.url(prefix), kill_at=5)
    assert second.killed, second
    third = dp.run("sleeper.py", dp.url(prefix))
    assert third.returncode == 0, third

    timers = [e for e in dp.show(dp.run_of("sleeper.py")["run_id"]) if e["policy"] == "timer"]
    assert len(timers) == 1, timers
    deadline = timers[0]["value"]
    assert deadline - timers[0]["started"] == pytest.approx(10.0, abs=0.5)
    output = first.stdout + second.stdout + third.stdout
    assert re.fullmatch(r"sleeping\nawake \S+\ndone\n", output), output
    awake = float(output.split()[2])  # time.time() right after the sleep, in the resumed run
    assert awake >= deadline - 0.01, "woke before the recorded deadline"
    # Sleeping the whole 10 s again after the restart would wake 10 s after it at the earliest.
    second_started = second.ended_at - second.seconds
    assert awake < second_started + 10.0, f"the resumed run slept the whole 10 s again: {second}"
    # Sleeping again on replay, once the deadline has passed, would take 10 s or more.
    assert third.seconds < 10.0, f"a finished sleep was slept again on replay: {third}"
    assert dp.counts(prefix) == {"/after": 1}


EXCEPTIONS = """
    import json
    import sys
    from urllib.parse import urlsplit

    import witness_client

    base = sys.argv[1]
    prefix = urlsplit(base).path


    def describe(exc, attributes):
        kind = type(exc)
        return {
            "type": f"{kind.__module__}.{kind.__qualname__}",
            "args": repr(exc.args).replace(prefix, "<p>"),
            "str": str(exc).replace(prefix, "<p>"),
            "attributes": {a: repr(getattr(exc, a, "<missing>")).replace(prefix, "<p>")
                           for a in attributes},
        }


    seen = []
    try:
        witness_client.fail(base + "/fail")
    except witness_client.WitnessError as exc:
        seen.append(describe(exc, ["status", "path"]))
    try:
        witness_client.quota(base + "/quota")
    except witness_client.QuotaError as exc:
        seen.append(describe(exc, ["retry_after"]))
    try:
        witness_client.handle_error(base + "/handle")
    except witness_client.HandleError as exc:
        seen.append(describe(exc, ["code"]))
    try:
        witness_client.missing_file(base + "/missing")
    except OSError as exc:
        seen.append(describe(exc, ["errno", "strerror", "filename"]))
    try:
        witness_client.fail(base + "/finally")
    except LookupError:
        seen.append("wrong handler")
    except Exception as exc:
        seen.append(describe(exc, []))
    finally:
        seen.append("finally ran")
    witness_client.hit(base + "/last")
    print(json.dumps(seen, sort_keys=True))
"""


def test_exceptions_replay_with_type_args_message_and_attributes(dp):
    """Recorded exceptions are raised again on replay, the same for ``except`` clauses; one with
    a constructor pickle cannot call, or an attribute that cannot be saved, is rebuilt."""
    dp.write("exceptions.py", EXCEPTIONS)
    prefix = dp.prefix("exc-base")
    baseline = dp.run("exceptions.py", dp.url(prefix))
    assert baseline.returncode == 0, baseline
    seen = json.loads(baseline.stdout)
    assert seen[0]["type"] == "witness_client.WitnessError"
    assert seen[1] == {
        "type": "witness_client.QuotaError",
        "args": "('quota exceeded',)",
        "str": "quota exceeded",
        "attributes": {"retry_after": "30"},
    }
    assert seen[3]["attributes"]["filename"] == "'settings.toml'"
    assert seen[-1] == "finally ran"
    dp.settle()

    prefix = dp.prefix("exc")
    # Killed right after the last effect: every exception is replayed, none raised live.
    killed = dp.run("exceptions.py", dp.url(prefix), kill_at=6)
    assert killed.killed and killed.stdout == "", killed
    resumed = dp.run("exceptions.py", dp.url(prefix))
    assert resumed.returncode == 0, resumed
    assert json.loads(resumed.stdout) == seen
    assert set(dp.counts(prefix).values()) == {1}, dp.counts(prefix)
    assert len(dp.counts(prefix)) == 6


UNSAVED = """
    import sys

    import witness_client

    base, use = sys.argv[1], sys.argv[2]
    numbers = witness_client.make_generator(base + "/generator")
    lock = witness_client.make_lock(base + "/lock")
    witness_client.hit(base + "/between")
    print("before use")
    if use == "use":
        lock.acquire()
        lock.release()
    print("after use")
"""


def test_unsaved_result_used_on_replay_raises_a_clear_error(dp):
    """A result that cannot be pickled is never silently re-executed: using its replayed stub
    raises UnsavedResultError naming the call and its line; an unused one is harmless."""
    dp.write("unsaved.py", UNSAVED)
    prefix = dp.prefix("unsaved")
    live = dp.run("unsaved.py", dp.url(prefix), "use")
    assert live.returncode == 0, live
    assert live.stdout == "before use\nafter use\n"
    dp.settle()

    killed = dp.run("unsaved.py", dp.url(prefix + "x"), "use", kill_at=3)
    assert killed.killed, killed
    resumed = dp.run("unsaved.py", dp.url(prefix + "x"), "use")
    assert resumed.returncode != 0, resumed
    assert resumed.stdout == "before use\n"
    assert "UnsavedResultError" in resumed.stderr or "could not be saved" in resumed.stderr
    assert "witness_client.make_lock()" in resumed.stderr, resumed.stderr
    assert "unsaved.py:7" in resumed.stderr, resumed.stderr
    assert "@durable_python.activity" in resumed.stderr, resumed.stderr
    assert dp.counts(prefix + "x") == {"/generator": 1, "/lock": 1, "/between": 1}

    killed = dp.run("unsaved.py", dp.url(prefix + "y"), "skip", kill_at=3)
    assert killed.killed, killed
    resumed = dp.run("unsaved.py", dp.url(prefix + "y"), "skip")
    assert resumed.returncode == 0, resumed
    assert resumed.stdout == "before use\nafter use\n"
    assert dp.counts(prefix + "y") == {"/generator": 1, "/lock": 1, "/between": 1}


FILES = """
    import sys

    import witness_client

    base = sys.argv[1]
    for step in range(3):
        witness_client.hit(f"{base}/step/{step}")
        witness_client.append_line("effects.log", f"step {step}")
        with open("plain.log", "a") as log:
            log.write(f"step {step}\\n")
    print("done")
"""


@pytest.mark.parametrize("kill_at", [2, 4])
def test_file_appended_by_an_effect_is_written_once(dp, kill_at):
    dp.write("files.py", FILES)
    prefix = dp.prefix("files")
    series = dp.run_with_kills("files.py", dp.url(prefix), kill_ats=[kill_at])
    assert series.crashes == 1 and series.final.returncode == 0, series
    assert (dp.work / "effects.log").read_text() == "step 0\nstep 1\nstep 2\n"
    assert set(dp.counts(prefix).values()) == {1}


def test_file_the_script_appends_to_is_written_once(dp):
    dp.write("files.py", FILES)
    prefix = dp.prefix("plainfiles")
    series = dp.run_with_kills("files.py", dp.url(prefix), kill_ats=[4])
    assert series.crashes == 1 and series.final.returncode == 0, series
    assert (dp.work / "plain.log").read_text() == "step 0\nstep 1\nstep 2\n"


PRINTER = """
    import sys

    import witness_client

    base = sys.argv[1]
    for step in range(4):
        print("line", step)
        witness_client.hit(f"{base}/{step}")
    print("done")
"""


def test_output_printed_before_a_kill_is_not_lost_with_buffered_stdout(dp):
    """stdout to a pipe is block-buffered: a line the journal says was printed must have left
    the buffer before the kill, or the resumed run skips a line nobody saw."""
    assert "PYTHONUNBUFFERED" not in dp.env
    dp.write("printer.py", PRINTER)
    expected = "".join(f"line {i}\n" for i in range(4)) + "done\n"
    for kill_at in (2, 4, 6):
        prefix = dp.prefix("buffered")
        series = dp.run_with_kills("printer.py", dp.url(prefix), kill_ats=[kill_at])
        assert series.final.returncode == 0, series
        assert series.stdout == expected, f"kill_at={kill_at}:\n{series}"
        dp.settle()


SET_ORDER = """
    import sys

    import witness_client

    base = sys.argv[1]
    witness_client.hit(base + "/before")
    print("before", ",".join({"alpha", "beta", "gamma", "delta", "epsilon", "zeta"}))
    witness_client.hit(base + "/after")
    print("after", ",".join({"alpha", "beta", "gamma", "delta", "epsilon", "zeta"}))
"""


def test_constant_set_order_is_the_same_after_resume(dp, tmp_path):
    """The hash seed is fixed per run, so set iteration order replays, also when the run started
    with a cold transpiler cache and resumes with a warm one (marshal rebuilds a frozenset
    constant in the compiling process's order; seeds 3, 6 and 8 showed that here)."""
    dp.write("sets.py", SET_ORDER)
    differing = {}
    for seed in range(1, 9):
        env = {"PYTHONHASHSEED": str(seed), "DURABLE_PYTHON_CACHE": str(tmp_path / f"c{seed}")}
        prefix = dp.prefix("set")
        killed = dp.run("sets.py", dp.url(prefix), kill_at=3, env=env)
        assert killed.killed, killed
        resumed = dp.run("sets.py", dp.url(prefix), env=env)
        assert resumed.returncode == 0, resumed
        before = killed.stdout.split()[1]
        after = resumed.stdout.split()[1]
        if before != after:
            differing[seed] = (before, after)
        dp.settle()
    assert not differing, differing
