"""A full disk under the local store: one clear error (exit code 74) saying so, where, and what
to do; nothing committed before is lost; once there is room again the same command resumes and
finishes, its output printed once. (A PostgreSQL store's full disk is the database server's:
not tested here.)

The store lives in a small tmpfs that the script's journal fills; the tmpfs is then remounted
bigger. Mounting needs root, which CI has.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from durable_python.errors import EXIT_STORE

from .conftest import Harness, Series

pytestmark = pytest.mark.e2e

STEPS = 30
FILLS_THE_DISK = f"""
    import os
    import sys

    import witness_client

    base = sys.argv[1]
    for step in range({STEPS}):
        witness_client.hit(f"{{base}}/step/{{step}}")
        noise = os.urandom(40_000)  # a value: 40 kB of journal a step
        print("step", step, len(noise))
    print("done")
"""
EXPECTED = "".join(f"step {step} 40000\n" for step in range(STEPS)) + "done\n"


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 512 kB tmpfs (about a dozen steps of the script), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)


def test_a_full_disk_stops_the_run_clearly_and_it_resumes_once_there_is_room(
    tmp_path, small_disk, witness, witness_lib, transpile_cache, durable_python
):
    dp = Harness(tmp_path / "h", witness, witness_lib, transpile_cache, str(small_disk / "store"))
    try:
        prefix = dp.prefix("full")
        dp.write("fills.py", FILLS_THE_DISK)
        full = dp.run("fills.py", dp.url(prefix))
        assert full.exit_code == EXIT_STORE, full
        assert full.notes.count("durable-python: ") == 1, full  # one message, no traceback
        message = full.final_note
        # The script's line: the effect's commit, or the print its 40 kB value is written before.
        wanted = r"fills\.py:(8|10): the disk is full: cannot write the journal"
        assert re.match(wanted, message), full
        assert str(small_disk / "store") in message, full
        assert "Free space on that disk, then run the same command again" in message, full
        assert 0 < full.stdout.count("\n") < STEPS, full

        subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
        resumed = dp.run("fills.py", dp.url(prefix))
        assert resumed.exit_code == 0, resumed
        assert "resuming run" in resumed.notes, resumed

        series = Series(attempts=[full, resumed])
        dp.read_journal(series, "fills.py", hook_kills=False)
        # The disk stopped the first attempt like a crash: what it printed after its last
        # commit is printed again, and the effect whose entry could not be written runs again.
        series.exact = [False]
        dp.assert_resumed_output(EXPECTED, series)
        expected = {f"/step/{step}": 1 for step in range(STEPS)}
        dp.assert_effects(expected, dp.counts(prefix), series)
        dp.settle()
    finally:
        dp.close()
