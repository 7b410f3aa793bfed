"""Deciding the policy of a callable by what it is, not by its name in the source."""

import datetime
import gc
import inspect
import json
import math
import os
import random
import sys
import time
import types
import uuid
import weakref

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


def _library(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(source, module.__dict__)
    sys.modules[name] = module
    return module


CLIENTS = """
import functools

class Client:
    def send(self): ...

def connect(): ...

def _logged(f):
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        return f(*args, **kwargs)
    return wrapper

@_logged
def read(): ...

@_logged
def write(): ...
"""


def test_a_library_class_is_a_constructor_its_functions_and_methods_are_not():
    lib = _library("someclient.api", CLIENTS)
    driver = _library("pymysql.connections", "class Connection: ...")
    try:
        spec_of = lambda f: Decider().decide(f).__self__.spec  # noqa: E731
        assert spec_of(lib.Client).constructs and spec_of(lib.Client).policy == "effect"
        assert not spec_of(lib.connect).constructs
        assert not spec_of(lib.Client().send).constructs
        assert not spec_of(driver.Connection).constructs  # a transactional driver: a stub
    finally:
        del sys.modules["someclient.api"], sys.modules["pymysql.connections"]


def test_functions_sharing_a_decorators_code_are_decided_one_by_one():
    lib = _library("someclient.api", CLIENTS)
    from durable_python import resolver

    decider = Decider({"someclient.api.read": "value"})
    decider.install()
    try:
        spec_of = lambda f: inspect.unwrap(resolver.resolve(f))._spec  # noqa: E731
        assert spec_of(lib.write).name == "someclient.api.write"
        assert spec_of(lib.read).policy == "value"
        assert spec_of(lib.write).policy == "effect"
    finally:
        Decider().install()
        del sys.modules["someclient.api"]


def test_a_method_call_keeps_its_object_unless_the_method_is_recorded_or_shadowed():
    """``__dp__(obj, "name")``: ``obj`` itself for an inline method of its type (the call stays a
    method call), else an object whose attribute is the callable to call, or the lookup's error."""
    lib = _library("someclient.api", CLIENTS)
    pure = _library("someclient.shapes", "class Box:\n    def get(self):\n        return 1\n")
    from durable_python import resolver

    Decider({"someclient.shapes": "inline"}).install()
    try:
        box, items = pure.Box(), [1]
        assert resolver.resolve(box, "get").get.__func__ is pure.Box.get
        if resolver.resolve is not resolver._resolve:  # the C resolver (Python's twin: a holder)
            assert resolver.resolve(box, "get") is box
            assert resolver.resolve(items, "append") is items
        assert (
            inspect.unwrap(resolver.resolve(lib.Client(), "send").send)._spec.name
            == "someclient.api.Client.send"
        )
        box.get = lib.connect  # the instance's own attribute comes first, as in Python
        assert (
            inspect.unwrap(resolver.resolve(box, "get").get)._spec.name == "someclient.api.connect"
        )
        with pytest.raises(AttributeError) as missing:
            resolver.resolve(box, "put").put  # noqa: B018 - raised where ``.put`` is read
        assert missing.value.name == "put" and missing.value.obj is box
    finally:
        Decider().install()
        del sys.modules["someclient.api"], sys.modules["someclient.shapes"]


def test_method_wrappers_are_decided_by_their_objects_type_and_not_kept():
    """``super().__init__`` is a new method-wrapper at every call: kept by identity, each one kept
    its object (an exception: its frames) alive, and was decided again at every call."""
    from durable_python import resolver

    class Record:
        pass

    Decider().install()
    try:
        records = [Record() for _ in range(100)]
        alive = [weakref.ref(record) for record in records]
        for record in records:
            wrapper = record.__init__
            assert resolver.resolve(wrapper) is wrapper
        del records, record, wrapper
        gc.collect()
        assert not any(ref() for ref in alive)
        assert len(resolver.decisions) < 5
    finally:
        Decider().install()


def test_an_unhashable_callable_object_is_recorded():
    """A library's callable object without a hash is decided at each call: never looked up."""
    lib = _library("someclient.api", "class Op:\n    __hash__ = None\n    def __call__(self): ...")
    from durable_python import resolver

    Decider().install()
    try:
        op = lib.Op()
        assert inspect.unwrap(resolver.resolve(op))._spec.name == "someclient.api.Op.__call__"
        assert Decider().kind_of(op) == "effect"
    finally:
        del sys.modules["someclient.api"]


def _resolvers():
    from durable_python import resolver

    return [resolver.resolve, resolver._resolve]  # the C resolver (if built) and its twin


@pytest.mark.parametrize("resolve", _resolvers())
@pytest.mark.parametrize("module_generator_first", [True, False])
def test_only_the_module_generators_methods_draw_from_the_runs_generator(
    resolve, module_generator_first
):
    """``random.choice`` draws from the run's own generator; ``rng.choice`` of a generator the
    script made stays its own (and inline), whichever of the two is decided first."""
    from durable_python import context

    run = types.SimpleNamespace(script_random=random.Random(5))
    rng = random.Random(3)
    owner = lambda f: inspect.unwrap(f).__self__  # noqa: E731 - the C resolver's is in a Hiding
    Decider().install()
    context.set_active(run)
    try:
        for _ in range(2):  # decided, then found decided
            for first in (True, False) if module_generator_first else (False, True):
                if first:
                    assert owner(resolve(random.choice)) is run.script_random
                    assert owner(resolve(random.random)) is run.script_random
                    assert owner(resolve(random, "choice").choice) is run.script_random
                else:
                    method, builtin = rng.choice, rng.random
                    assert resolve(method) is method and resolve(builtin) is builtin
                    assert resolve(rng, "choice").choice.__self__ is rng
                    assert resolve(rng, "random").random.__self__ is rng
    finally:
        context.set_active(None)
        Decider().install()


@pytest.mark.parametrize("resolve", _resolvers())
def test_a_builtin_bound_to_a_class_is_decided_by_that_class(resolve):
    """``datetime.datetime.now`` (a classmethod) is a value even after ``dict.fromkeys``, bound
    to a class too, was decided inline: the two are not one method of ``type``."""
    Decider().install()
    try:
        for _ in range(2):
            assert resolve(dict.fromkeys) == dict.fromkeys
            now = inspect.unwrap(resolve(datetime.datetime.now))
            assert now._spec.name == "datetime.datetime.now"
    finally:
        Decider().install()


@pytest.mark.parametrize("resolve", _resolvers())
def test_callable_objects_named_by_their_type_are_settled_by_it(resolve):
    """An inline callable object without a name of its own (``operator.itemgetter(1)``) settles
    its type; a recorded one (a library's) is recorded at each call, instance by instance; one
    that could take a name of its own (it has a ``__dict__``) is decided instance by instance."""
    import functools
    import operator

    from durable_python import resolver

    lib = _library("someclient.api", CLIENTS + "class Op:\n    def __call__(self): ...")
    pure = _library("someclient.shapes", "class Step:\n    def __call__(self): ...")
    Decider({"someclient.shapes": "inline"}).install()
    try:
        for index in range(3):
            getter = operator.itemgetter(index)
            assert resolve(getter) is getter
        assert operator.itemgetter in resolver.inline_call_types
        first, second = lib.Op(), lib.Op()
        assert inspect.unwrap(resolve(first))._spec.name == "someclient.api.Op.__call__"
        assert inspect.unwrap(resolve(second))._f is second
        step, named = pure.Step(), functools.update_wrapper(pure.Step(), lib.connect)
        assert resolve(step) is step
        assert inspect.unwrap(resolve(named))._spec.name == "someclient.api.connect"
        assert not {lib.Op, pure.Step} & set(resolver.inline_call_types)
    finally:
        Decider().install()
        del sys.modules["someclient.api"], sys.modules["someclient.shapes"]
