"""What a library reads on its own (the environment while it imports, initialises lazily, rebuilds
a recorded result, or in its own thread) never enters the script's journal, so resuming does not
depend on when the library chose to do it."""

from __future__ import annotations

import pytest

from durable_python.testing import wait_until

pytestmark = pytest.mark.e2e

# Outside the script's tree: not rewritten, so its functions are effects and its code is the
# library's own. A Token is rebuilt by calling _rebuild, which reads the environment, the clock
# and draws from ``random``: live that never happens (the result is only pickled), on replay it
# does; the script's own draws must not move.
LAZY = """
    import os
    import random
    import threading
    import time

    _initialised = False


    def _rebuild(value):
        os.environ.get("LAZY_PLUGIN_MODE")
        time.time()
        random.random()
        return Token(value)


    class Token:
        def __init__(self, value):
            self.value = value

        def __reduce__(self):
            return (_rebuild, (self.value,))


    def make(value):
        return Token(value)


    def initialise_once():
        global _initialised
        if not _initialised:
            _initialised = True
            os.environ.get("LAZY_INIT")
            "LAZY_FLAG" in os.environ


    def in_background():
        worker = threading.Thread(target=lambda: os.getenv("LAZY_BACKGROUND"))
        worker.start()
        worker.join()
"""

SCRIPT = """
    import os
    import random
    import time

    import lazy_library

    home = os.environ.get("HOME", "none")
    first = lazy_library.make(1)
    lazy_library.initialise_once()
    lazy_library.in_background()
    second = lazy_library.make(2)
    lazy_library.make(random.random())  # a draw that moved would diverge here
    time.sleep(0.01)
    print("tokens", first.value, second.value, "home known", home != "none")
"""


def entries_of(ih, run_id: str) -> list[tuple[str, int, str, str]]:
    return [(e["task"], e["seq"], e["policy"], e["name"]) for e in ih.show(run_id)]


@pytest.mark.parametrize("kill_at", [1, 2, 3, 4, 6])
def test_a_librarys_own_reads_do_not_change_the_scripts_journal(ih, kill_at):
    ih.write_lib("lazy_library.py", LAZY)
    ih.write("tokens.py", SCRIPT)
    clean = ih.run("tokens.py")
    assert clean.exit_code == 0, clean
    reference = entries_of(ih, ih.run_of("tokens.py")["run_id"])
    assert [(p, n) for _, _, p, n in reference] == [
        ("value", "os.environ"),  # the script's own read, and no library's
        ("effect", "lazy_library.make"),
        ("effect", "lazy_library.initialise_once"),
        ("effect", "lazy_library.in_background"),
        ("effect", "lazy_library.make"),
        ("effect", "lazy_library.make"),
        ("timer", "time.sleep"),
        ("output", "sys.stdout"),
    ]
    ih.settle()

    resumed = ih.resume("tokens.py", "killed", kill_ats=[kill_at])  # another command: a new run
    assert resumed.crashes == 1 and resumed.final.exit_code == 0, resumed
    assert resumed.stdout == clean.stdout == "tokens 1 2 home known True\n"
    killed = [r for r in ih.runs_of("tokens.py") if r["argv"][1:] == ["killed"]]
    assert len(killed) == 1, killed
    assert entries_of(ih, killed[0]["run_id"]) == reference


LISTING = """
    import os
    import time

    names = sorted(name for name in os.environ if name.startswith("PROBE_"))
    time.sleep(0.01)
    print("names", names)
    print("items", sorted((k, v) for k, v in os.environ.items() if k.startswith("PROBE_")))
    print("copied", sorted(k for k in os.environ.copy() if k.startswith("PROBE_")), len(os.environ) > 2)
"""


def test_iterating_the_environment_replays_what_the_first_attempt_saw(ih):
    ih.write("listing.py", LISTING)
    first = {"PROBE_A": "1"}
    later = {"PROBE_A": "changed", "PROBE_B": "new"}
    series = ih.resume("listing.py", kill_ats=[2], env_per_attempt=[first, later, later])
    assert series.crashes == 1 and series.final.exit_code == 0, series
    assert series.stdout == (
        "names ['PROBE_A']\n"  # listed before the kill: replayed
        "items [('PROBE_A', 'changed'), ('PROBE_B', 'new')]\n"  # listed live after it
        "copied ['PROBE_A', 'PROBE_B'] True\n"
    ), series
    listings = [e for e in ih.entries() if e["name"] == "os.environ.items"]
    assert len(listings) == 4, listings  # iteration, items(), copy(), len()


SENDER = """
    import time


    def send(token, marker):
        with open(marker, "a") as out:
            out.write(f"started {token}\\n")
        time.sleep(1.5)
        with open(marker, "a") as out:
            out.write(f"done {token}\\n")
"""

SENDS = """
    import uuid

    import sender

    token = uuid.uuid4().hex
    sender.send(token, "marker.txt")
    print("sent", token)
"""


def test_an_effect_in_flight_at_a_crash_runs_again_with_the_same_values(ih):
    ih.write_lib("sender.py", SENDER)
    ih.write("sends.py", SENDS)
    marker = ih.work / "marker.txt"
    process = ih.start("run", "sends.py")
    wait_until(lambda: marker.exists() and "started" in marker.read_text(), 60, "the effect")
    process.kill()
    process.finish(timeout=60)
    resumed = ih.run("sends.py")
    assert resumed.exit_code == 0, resumed
    started, again, done = marker.read_text().split("\n")[:3]
    token = started.split()[1]
    assert again == f"started {token}" and done == f"done {token}", marker.read_text()
    assert resumed.stdout == f"sent {token}\n", resumed
