"""Unit tests of the integrations' decisions and helpers (no subprocess)."""

from __future__ import annotations

import builtins
import io
import os
import pathlib
import sqlite3
import subprocess
import sys
import urllib.request
import warnings

import pytest

from durable_python import frames
from durable_python.config import load
from durable_python.decider import Decider
from durable_python.errors import UsageError
from durable_python.retries import RetryPolicy, default_policy, policy_from_table


def policy(f, user=None):
    return Decider(user).kind_of(f)


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        (builtins.open, "open_file"),
        (io.open, "open_file"),
        (pathlib.Path("x").open, "path_open"),
        (pathlib.Path("x").read_text, "value"),
        (pathlib.Path("x").write_text, "effect"),
        (pathlib.Path(".").iterdir, "listing"),
        (os.scandir, "scandir"),
        (os.walk, "walk"),
        (os.remove, "effect"),
        (subprocess.run, "subprocess_call"),
        (subprocess.check_output, "subprocess_call"),
        (subprocess.Popen, "popen"),
        (os.popen, "os_popen"),
        (urllib.request.urlopen, "urlopen"),
        (urllib.request.Request, "inline"),
        (sqlite3.connect, "sqlite_connect"),
    ],
)
def test_standard_library_integrations(f, expected):
    assert policy(f) == expected


def test_http_client_integrations():
    requests = pytest.importorskip("requests")
    httpx = pytest.importorskip("httpx")
    session = requests.Session()
    client = httpx.Client()
    assert policy(requests.get) == policy(requests.post) == "http_request"
    assert policy(session.get) == policy(session.request) == policy(session.send) == "http_request"
    assert (
        policy(requests.Session) == policy(httpx.Client) == policy(httpx.AsyncClient) == "resource"
    )
    assert policy(session.mount) == "inline"
    assert policy(httpx.get) == policy(client.post) == policy(client.send) == "http_request"
    assert policy(httpx.AsyncClient().get) == "http_request"
    assert policy(client.stream) == policy(httpx.stream) == "http_stream"
    assert (
        policy(client.build_request) == policy(httpx.Request) == policy(httpx.Timeout) == "inline"
    )
    assert policy(requests.Response().json) == "inline"


def test_retry_policy_delays_and_matching():
    policy_ = RetryPolicy(
        max_attempts=5, initial_interval=1, backoff_coefficient=3, maximum_interval=5
    )
    assert [policy_.delay(n) for n in (1, 2, 3)] == [1, 3, 5]
    assert RetryPolicy(initial_interval=2).delay(9) == 200  # capped at 100x the initial interval
    named = RetryPolicy(exceptions=("ConnectionError", "urllib.error.URLError"))
    assert named.retries(ConnectionRefusedError())  # a subclass of ConnectionError
    assert named.retries(urllib.request.HTTPError("u", 503, "down", None, None))
    assert not named.retries(ValueError())
    assert not RetryPolicy().retries(KeyboardInterrupt())
    assert not RetryPolicy(non_retryable=(KeyError,)).retries(KeyError("k"))
    scoped = RetryPolicy(calls=("requests.*",))
    assert scoped.covers("requests.api.get") and not scoped.covers("extlib.fetch")
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="unknown key"):
        policy_from_table({"attempts": 3}, "here")
    with pytest.raises(ValueError, match="exceptions must be a list"):
        policy_from_table({"exceptions": "OSError"}, "here")


def test_configuration_keys(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        "[tool.durable-python]\n"
        'activities = ["helpers.sync"]\nresources = ["lib.Client"]\n'
        "idempotency_keys = true\n"
        "retry = { max_attempts = 4, initial_interval = 0.5 }\n"
    )
    config = load(tmp_path)
    assert config.policies == {"helpers.sync": "effect", "lib.Client": "resource"}
    assert config.idempotency_keys
    assert default_policy(config.retry, config.source).max_attempts == 4
    (tmp_path / "pyproject.toml").write_text("[tool.durable-python]\nretry = 3\n")
    with pytest.raises(UsageError, match="must be a table"):
        config = load(tmp_path)
        default_policy(config.retry, config.source)
    (tmp_path / "pyproject.toml").write_text("")
    assert load(tmp_path).retry is None


def test_hidden_frames_are_skipped_by_warnings_stacklevel():
    def wrapper(f):
        return f()

    def library():
        warnings.warn("deprecated", DeprecationWarning, stacklevel=2)

    frames.hide(wrapper)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wrapper(library)
        line = sys._getframe().f_lineno - 1
    assert caught[0].filename == __file__ and caught[0].lineno == line
