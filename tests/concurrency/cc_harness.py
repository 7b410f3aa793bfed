"""Helpers of the concurrency tests: the witness API process, running ``durable-python``
killed and again, and the checks (fixtures: conftest.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from durable_python._testing_harness import _clip as clip
from durable_python.testing import Attempt, Execution, Sandbox

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "scripts" / "examples"


# ----- the witness: the examples' document API, as its own process -------------------------------


class DocAPI:
    """``doc_api.py`` in a subprocess; ``counts()`` is how often each document was sent."""

    def __init__(self, latency: float = 0.0) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(EXAMPLES / "doc_api.py"),
                "--port",
                "0",
                "--latency",
                str(latency),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.process.stdout.readline()
        found = re.search(r"http://\S+", line)
        if found is None:
            self.process.kill()
            raise RuntimeError(f"doc_api did not start: {line!r}")
        self.url = found.group(0)

    def _get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return json.loads(response.read())

    def counts(self) -> dict[str, int]:
        return self._get("/count")["documents"]

    def requests(self) -> int:
        return self._get("/stats")["requests"]

    def reset(self) -> None:
        request = urllib.request.Request(self.url + "/reset", data=b"", method="POST")
        urllib.request.urlopen(request, timeout=30).close()

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


# ----- running the command -----------------------------------------------------------------------

Series = Execution  # the attempts of one run: killed ones, then the one that finished


class Harness(Sandbox):
    """A sandbox with this area's defaults: unbuffered output, 180 s per command, and every
    awaited entry committed by the committer thread (as on a slow disk, whatever this one is)."""

    def __init__(self, root: Path, store: str | None = None) -> None:
        env = {"DURABLE_PYTHON_TEST_HAND_OVER": "1"}
        super().__init__(root, unbuffered=True, store=store, env=env)

    def cli(self, *args: str, timeout: float = 180, **options) -> Attempt:
        return super().cli(*args, timeout=timeout, **options)

    def python(self, script: str, *args: str, timeout: float = 180) -> Attempt:
        """The same script under plain ``python`` (the reference for output)."""
        return super().python(script, *args, timeout=timeout)

    def run_with_kills(self, script: str, *args: str, kill_ats: list[int]) -> Series:
        """Attempt i is killed at journal entry ``kill_ats[i]``; then run to the end."""
        return self.resume(script, *args, kill_ats=kill_ats, timeout=180)


# ----- checks ------------------------------------------------------------------------------------


def assert_printed_once(expected: str, series: Series, max_repeat: int = 2) -> None:
    """The attempts' stdout, joined, is ``expected``: nothing printed before a crash is printed
    again, except what was printed right before a kill and not yet committed: at most the last
    ``max_repeat`` lines (or part of the last line: a ``print`` writes its pieces one by one) may
    be printed again by the next attempt (DESIGN 5: a crash loses uncommitted outputs)."""
    line_starts = [0] + [m.end() for m in re.finditer("\n", expected)]
    done = 0
    for index, attempt in enumerate(series.attempts):
        text = attempt.stdout
        candidates = [done]
        if index > 0:
            earlier = [p for p in line_starts if p < done]
            lowest = sorted(earlier, reverse=True)[:max_repeat][-1:] or [done]
            candidates += range(done - 1, lowest[0] - 1, -1)
        for start in candidates:
            if expected[start : start + len(text)] == text:
                done = start + len(text)
                break
        else:
            raise AssertionError(
                f"attempt {index + 1}'s stdout does not continue the expected output at offset"
                f" {done}.\n--- expected\n{clip(expected)}--- series\n{series}"
            )
    assert done == len(expected), f"output stops short at {done}:\n{series}"


def assert_sent_once(
    counts: dict[str, int], expected_ids: list[str], series: Series, in_flight: int
) -> None:
    """Every document was sent; repeats only for calls in flight at a kill (<= in_flight each)."""
    missing = [d for d in expected_ids if counts.get(d, 0) == 0]
    assert not missing, f"{len(missing)} documents never sent, e.g. {missing[:5]}\n{series}"
    extra = set(counts) - set(expected_ids)
    assert not extra, f"unexpected documents {sorted(extra)[:5]}"
    repeats = {d: n - 1 for d, n in counts.items() if n > 1}
    assert sum(repeats.values()) <= in_flight * series.crashes, (
        f"{sum(repeats.values())} repeated requests with {series.crashes} crashes"
        f" (at most {in_flight} in flight each): {dict(list(repeats.items())[:20])}\n{series}"
    )
    assert all(n <= 1 + series.crashes for n in counts.values())


# ----- as_completed over many futures: a known bug gates the thread-pool tests -------------------

AS_COMPLETED_PROBE = """
    import sys
    import time
    from concurrent.futures import ThreadPoolExecutor, as_completed

    count = int(sys.argv[1])
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(abs, -number) for number in range(count)]
        started = time.perf_counter()
        total = sum(future.result() for future in as_completed(futures))
    print(total, time.perf_counter() - started)
"""

ASYNC_AS_COMPLETED_PROBE = """
    import asyncio
    import sys
    import time


    async def one(number):
        await asyncio.sleep(0)
        return number


    async def main(count):
        tasks = [asyncio.create_task(one(number)) for number in range(count)]
        started = time.perf_counter()
        total = 0
        for next_done in asyncio.as_completed(tasks):
            total += await next_done
        print(total, time.perf_counter() - started)


    asyncio.run(main(int(sys.argv[1])))
"""


@dataclass
class Probe:
    ok: bool
    detail: str

    def require(self) -> None:
        """In a test that would take minutes if ``as_completed`` were quadratic: skip it then
        (the probe's own test fails, loudly)."""
        if not self.ok:
            pytest.skip(f"as_completed is not linear ({self.detail}): see test_mechanics.py")


def probe(tmp_path_factory, source: str, count: int) -> Probe:
    """Time the ``as_completed`` loop of ``source`` over ``count`` items in-process, under plain
    python and under durable-python. Linear: a few times python's time (2,000 items: ~0.05 s).
    Quadratic, as it once was (a new real as_completed / asyncio.wait over the remaining items
    for every item yielded): hundreds of times (2,000 items: ~5 s; 10,000 documents: minutes)."""
    harness = Harness(tmp_path_factory.mktemp("probe"))
    harness.write("probe.py", source)
    expected = str(count * (count - 1) // 2)
    plain = harness.python("probe.py", str(count))
    total, plain_seconds = plain.stdout.split()
    assert plain.returncode == 0 and total == expected, plain
    limit = max(1.5, 20 * float(plain_seconds))
    try:
        done = harness.run("probe.py", str(count), timeout=30)
    except subprocess.TimeoutExpired:
        return Probe(False, f"{count} items: not done in 30 s (python: {plain_seconds} s)")
    assert done.returncode == 0, done
    total, seconds = done.stdout.split()
    assert total == expected, done
    detail = f"{count} items: {float(seconds):.2f} s, python {float(plain_seconds):.3f} s"
    return Probe(float(seconds) < limit, f"{detail}, limit {limit:.2f} s")


# ----- effects with a witness log, for the focused and property tests ---------------------------

FX = '''
"""Effects for the concurrency tests (not rewritten: its functions are effects).

Each execution appends ``TAG TOKEN`` to the log file (one O_APPEND write, so concurrent writers
never mix lines) and returns ``TAG@TOKEN``. The token is new for every execution: a replayed
result carries the token of the execution that was recorded; a re-execution carries a new one.
``LOG.fast`` existing makes every delay zero (a later attempt where everything is quick).
"""

import asyncio
import itertools
import os
import time

_executions = itertools.count()


class FxError(Exception):
    def __init__(self, tag, token):
        super().__init__(tag, token)
        self.tag = tag
        self.token = token


def _execute(log, tag):
    token = f"{os.getpid()}.{next(_executions)}"
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{tag} {token}\\n".encode())
    finally:
        os.close(fd)
    return token


def _delay(log, delay):
    return 0.0 if os.path.exists(log + ".fast") else delay


def effect(log, tag, delay=0.0, fail=False):
    delay = _delay(log, delay)
    if delay:
        time.sleep(delay)
    token = _execute(log, tag)
    if fail:
        raise FxError(tag, token)
    return f"{tag}@{token}"


async def aeffect(log, tag, delay=0.0, fail=False):
    delay = _delay(log, delay)
    if delay:
        await asyncio.sleep(delay)
    token = _execute(log, tag)
    if fail:
        raise FxError(tag, token)
    return f"{tag}@{token}"
'''

TOKEN = re.compile(r"@(\d+\.\d+)")
# A value a script read (``uuid4().hex[:12]``) and printed as ``KEY=VALUE``.
VALUE = re.compile(r"([\w-]+)=([0-9a-f]{12})\b")


def strip_tokens(text: str) -> str:
    """The text with what differs between runs (tokens, values read) blanked out."""
    return VALUE.sub(r"\1=*", TOKEN.sub("@*", text))


def executions(log: Path) -> dict[str, list[str]]:
    """tag -> the tokens of its executions, from the witness log."""
    found: dict[str, list[str]] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            tag, token = line.split(" ")
            found.setdefault(tag, []).append(token)
    return found


def printed_results(text: str) -> dict[str, set[str]]:
    """tag -> the tokens printed with it (``tag@token`` anywhere in the output)."""
    found: dict[str, set[str]] = {}
    for match in re.finditer(r"([\w.-]+)@(\d+\.\d+)", text):
        found.setdefault(match.group(1), set()).add(match.group(2))
    return found


def join_attempts(series: Series) -> str:
    """The attempts' stdout as one text. A killed attempt may stop mid-line (``print`` writes its
    pieces one by one, and a commit by another thread may have recorded only some of them); the
    next attempt then prints the rest of that line, starting with the pieces that were printed
    but not recorded, or all of it again. Either way the line comes out whole here."""
    joined = ""
    for attempt in series.attempts:
        text = attempt.stdout
        if joined and not joined.endswith("\n"):
            partial = joined[joined.rfind("\n") + 1 :]
            overlap = next(
                (n for n in range(len(partial), 0, -1) if text.startswith(partial[-n:])), 0
            )
            joined = joined[: len(joined) - overlap]
        joined += text
    return joined


def check_resumed(
    reference: Attempt,
    reference_log: Path,
    series: Series,
    log: Path,
    in_flight: int,
    ordered: bool = True,
    max_repeat: int = 2,
    varying: str | None = None,
) -> None:
    """A crashed-and-resumed run did what the uninterrupted ``reference`` did.

    - It ended the same way (exit code) and printed the same text, tokens aside: in the same
      order when ``ordered`` (the script's output does not depend on interleaving), else as the
      same lines; each line once overall, except at most ``max_repeat`` lines per crash printed
      right before a kill and not yet committed. Lines matching ``varying`` (their content depends
      on how this run's tasks interleaved) are left to the caller.
    - Every result the script printed or used came from one real execution, and never from two:
      a tag printed with two different tokens means a result was replaced by a re-execution.
      Likewise a value read (``KEY=VALUE``) is the same in every attempt.
    - Every effect the reference executed was executed; repeats only for calls in flight at a
      kill (at most ``in_flight`` per crash).
    """
    final = series.final
    assert final.returncode == reference.returncode, f"reference: {reference}\n{series}"
    expected = strip_tokens(reference.stdout)
    if ordered:
        stripped = Series(
            attempts=[replace(a, stdout=strip_tokens(a.stdout)) for a in series.attempts]
        )
        assert_printed_once(expected, stripped, max_repeat)
    else:
        joined = strip_tokens(join_attempts(series))
        got = [line for line in joined.splitlines() if not (varying and re.match(varying, line))]
        want = [line for line in expected.splitlines() if not (varying and re.match(varying, line))]
        extra = list((Counter(got) - Counter(want)).elements())
        missing = list((Counter(want) - Counter(got)).elements())
        assert not missing, f"lines never printed: {missing[:10]}\n{series}"
        assert len(extra) <= max_repeat * series.crashes, f"printed twice: {extra}\n{series}"
    everything = "".join(a.stdout for a in series.attempts)
    values: dict[str, set[str]] = {}
    for match in VALUE.finditer(everything):
        values.setdefault(match.group(1), set()).add(match.group(2))
    changed = {key: found for key, found in values.items() if len(found) > 1}
    assert not changed, f"values read that changed across attempts: {changed}\n{series}"
    printed = printed_results(everything)
    twice = {tag: tokens for tag, tokens in printed.items() if len(tokens) > 1}
    assert not twice, f"results that changed across attempts: {twice}\n{series}"
    done = executions(log)
    for tag, tokens in printed.items():
        assert tokens <= set(done.get(tag, ())), (
            f"{tag}: printed {tokens}, executed {done.get(tag)}"
        )
    want_done = executions(reference_log)
    assert set(done) == set(want_done), (
        f"effects missing {set(want_done) - set(done)}, extra {set(done) - set(want_done)}\n{series}"
    )
    repeats = {tag: len(tokens) - len(want_done[tag]) for tag, tokens in done.items()}
    assert min(repeats.values(), default=0) >= 0
    assert sum(repeats.values()) <= in_flight * series.crashes, (
        f"{sum(repeats.values())} repeated effects with {series.crashes} crashes:"
        f" { {t: n for t, n in repeats.items() if n} }\n{series}"
    )
