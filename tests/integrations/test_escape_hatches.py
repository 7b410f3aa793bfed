"""Escape hatches: @activity, durable_python.pure(...), durable_python.resource(...), and the same
declarations in [tool.durable-python]."""

from __future__ import annotations

from collections import Counter

import pytest

pytestmark = pytest.mark.e2e

# A library outside the script's tree (not rewritten): every call appends to calls.log.
EXTLIB = """
import os, threading, time

def _log(what):
    with open(os.environ["CALLS_LOG"], "a") as f:
        f.write(what + "\\n")

def compute(x):
    _log("compute")
    return x * 2

def tokenize(text):
    _log("tokenize")
    return text.split()

def fetch(key):
    _log("fetch")
    return key.upper()

def stamp():
    _log("stamp")
    return time.time()

class Client:
    def __init__(self, name):
        _log("Client")
        self.name = name
        self.lock = threading.Lock()  # cannot be saved: a result replay could not give back

    def get(self, key):
        _log("Client.get")
        return f"{self.name}:{key}"
"""


def _calls(ih) -> Counter:
    path = ih.root / "calls.log"
    return Counter(path.read_text().split()) if path.exists() else Counter()


@pytest.fixture
def lib(ih):
    ih.write("extlib.py", EXTLIB, lib=True)
    ih.env["CALLS_LOG"] = str(ih.root / "calls.log")
    return ih


def test_activity_is_one_effect_whose_insides_are_not_recorded(lib):
    ih = lib
    ih.write(
        "act.py",
        """
        import time
        import durable_python, extlib

        @durable_python.activity
        def sync(n):
            client = extlib.Client("svc")          # unsaveable: fine inside an activity
            return [client.get(str(extlib.compute(i))) for i in range(n)]

        print(sync(3))
        time.sleep(0)
        print("done")
        """,
    )
    series = ih.series("act.py", kill_ats=[2])
    assert series.crashes == 1, series
    assert series.stdout == "['svc:0', 'svc:2', 'svc:4']\ndone\n", series
    assert _calls(ih) == Counter({"Client": 1, "compute": 3, "Client.get": 3})
    recorded = [
        e["name"] for e in ih.entries() if e["policy"] != "output" and e["name"] != "os.environ"
    ]
    assert recorded == ["__main__.sync", "time.sleep"]


def test_pure_and_resource_declared_in_the_script(lib):
    ih = lib
    ih.write(
        "declared.py",
        """
        import time
        import durable_python, extlib

        durable_python.pure(extlib.compute, "extlib.tokenize")
        Client = durable_python.resource(extlib.Client)
        print(extlib.compute(21), extlib.tokenize("a b"))
        client = Client("svc")
        print(client.get("k"))
        time.sleep(0)
        print(extlib.fetch("x"))
        """,
    )
    series = ih.series("declared.py", kill_ats=[3])
    assert series.crashes == 1, series
    assert series.stdout == "42 ['a', 'b']\nsvc:k\nX\n", series
    # pure and resource calls ran again on replay; the recorded ones (get, fetch) did not
    assert _calls(ih) == Counter(
        {"compute": 2, "tokenize": 2, "Client": 2, "Client.get": 1, "fetch": 1}
    )
    recorded = [
        e["name"] for e in ih.entries() if e["policy"] != "output" and e["name"] != "os.environ"
    ]
    assert recorded == ["extlib.Client.get", "time.sleep", "extlib.fetch"]


def test_declarations_in_pyproject(lib):
    ih = lib
    ih.write(
        "pyproject.toml",
        """
        [tool.durable-python]
        pure = ["extlib.compute"]
        resources = ["extlib.Client"]
        activities = ["helpers.sync_all"]
        values = ["extlib.stamp"]
        effects = ["json.dumps"]
        """,
    )
    ih.write(
        "helpers.py",
        """
        import extlib

        def sync_all(n):
            return [extlib.fetch(str(i)) for i in range(n)]
        """,
    )
    ih.write(
        "configured.py",
        """
        import json, time
        import extlib, helpers

        print(extlib.compute(2), extlib.Client("c").get("k"))
        print(helpers.sync_all(2), extlib.stamp() > 0, json.dumps([1]))
        time.sleep(0)
        print("done")
        """,
    )
    series = ih.series("configured.py", kill_ats=[5])
    assert series.crashes == 1, series
    assert series.stdout == "4 c:k\n['0', '1'] True [1]\ndone\n", series
    assert _calls(ih) == Counter(
        {"compute": 2, "Client": 2, "Client.get": 1, "fetch": 2, "stamp": 1}
    )
    policies = {
        e["name"]: e["policy"]
        for e in ih.entries()
        if e["policy"] != "output" and e["name"] != "os.environ"
    }
    assert policies == {
        "extlib.Client.get": "effect",
        "helpers.sync_all": "effect",
        "extlib.stamp": "value",
        "json.dumps": "effect",
        "time.sleep": "timer",
    }


def test_a_bad_declaration_is_a_clear_error(ih):
    ih.write("noop.py", "print(1)\n")
    ih.write("pyproject.toml", '[tool.durable-python]\nactivities = "helpers.sync"\n')
    done = ih.run("noop.py")
    assert done.returncode == 64, done
    assert "activities must be a list of names" in done.stderr
