"""Deciding the policy of a callable by what it is, not by its name in the source."""

import datetime
import json
import math
import os
import random
import sys
import time
import types
import uuid

import pytest

from durable_python.decider import Decider, qualified_name


def policy(f, user=None):
    return Decider(user).kind_of(f)


@pytest.mark.parametrize(
    "f",
    [
        len,
        print,
        json.dumps,
        math.sqrt,
        [].append,
        "x".join,
        {}.get,
        random.random,
        random.shuffle,
        datetime.datetime(2020, 1, 1).isoformat,
        os.path.join,
        sorted,
        ValueError,
    ],
)
def test_pure_callables_run_inline(f):
    assert policy(f) == "inline"


@pytest.mark.parametrize(
    "f",
    [
        time.time,
        time.monotonic,
        datetime.datetime.now,
        datetime.date.today,
        uuid.uuid4,
        os.urandom,
        os.getpid,
        os.path.exists,
        os.listdir,
    ],
)
def test_nondeterministic_reads_are_values(f):
    assert policy(f) == "value"


@pytest.mark.parametrize("f", [os.remove, os.mkdir, os.system])
def test_side_effects_are_effects(f):
    assert policy(f) == "effect"


def test_special_handlers():
    assert policy(time.sleep) == "durable_sleep"
    assert policy(input) == "durable_input"
    assert policy(random.Random) == "random_instance"


def test_unknown_modules_are_effects_and_users_can_declare_them_pure():
    module = types.ModuleType("somelib.api")
    exec("def fetch(x): return x", module.__dict__)
    sys.modules["somelib.api"] = module
    try:
        assert policy(module.fetch) == "effect"
        assert policy(module.fetch, {"somelib": "inline"}) == "inline"
        assert policy(module.fetch, {"somelib.api.fetch": "value"}) == "value"
    finally:
        del sys.modules["somelib.api"]


def test_names_come_from_what_the_callable_is():
    assert qualified_name(datetime.datetime.now) == ("datetime", "datetime.now")
    assert qualified_name([].append) == ("builtins", "list.append")
    assert qualified_name(str.upper) == ("builtins", "str.upper")
    assert qualified_name(time.time) == ("time", "time")
