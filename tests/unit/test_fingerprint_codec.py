"""Argument fingerprints and the saving of results and exceptions."""

import pickle
import threading

import pytest

from durable_python import codec
from durable_python.errors import UnsavedResultError
from durable_python.fingerprint import describe, fingerprint


def test_fingerprint_tells_different_plain_data_apart():
    assert fingerprint((1, "a"), {"k": [1.5, None]}) == fingerprint((1, "a"), {"k": [1.5, None]})
    assert fingerprint((1,), {}) != fingerprint((2,), {})
    assert fingerprint((1,), {}) != fingerprint(("1",), {})
    assert fingerprint((), {"a": 1}) != fingerprint((), {"b": 1})
    assert fingerprint((), {}) == ""


def test_fingerprint_ignores_set_order_and_object_state():
    assert fingerprint(({"x", "y", "zz"},), {}) == fingerprint(({"zz", "y", "x"},), {})
    assert fingerprint((threading.Lock(),), {}) == fingerprint((threading.Lock(),), {})
    assert fingerprint((threading.Lock(),), {}) != fingerprint((object(),), {})


def test_describe_is_short():
    assert len(describe((1, "x" * 500), {"k": 2})) < 100
    assert describe((1,), {"k": 2}) == "1, k=2"


class CodedError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def test_plain_exception_round_trips():
    outcome, payload = codec.encode_exception(KeyError("k"))
    assert outcome == "error"
    restored = pickle.loads(payload)
    assert type(restored) is KeyError and restored.args == ("k",)


def test_exception_with_custom_init_is_rebuilt_with_attributes():
    outcome, payload = codec.encode_exception(CodedError(7, "boom"))
    assert outcome == "rebuilt"
    rebuilt = codec.rebuild_exception(pickle.loads(payload))
    assert type(rebuilt) is CodedError
    assert rebuilt.args == ("boom",) and rebuilt.code == 7 and str(rebuilt) == "boom"


def test_exception_of_a_vanished_class_keeps_its_message():
    state = {"module": "no.such", "qualname": "Gone", "args": ("x",), "dict": {}, "message": "x"}
    rebuilt = codec.rebuild_exception(state)
    assert isinstance(rebuilt, codec.RecordedError) and "no.such.Gone: x" in str(rebuilt)


def test_lambda_results_are_saved_by_cloudpickle():
    outcome, payload = codec.encode_result(lambda x: x + 1)
    assert outcome == "ok" and pickle.loads(payload)(1) == 2


def test_unsaveable_result_becomes_a_stub_that_explains_itself():
    outcome, payload = codec.encode_result(threading.Lock())
    assert outcome == "unsaved"
    type_name, reason = pickle.loads(payload)
    stub = codec.Unsaved("mylib.connect", "job.py:3", type_name, reason)
    with pytest.raises(UnsavedResultError, match=r"mylib.connect\(\) recorded at job.py:3"):
        stub.acquire()
    with pytest.raises(UnsavedResultError, match="@durable_python.activity"):
        with stub:
            pass
    assert "unsaved" in repr(stub)


def test_a_stub_of_a_transactional_connection_does_not_suggest_a_resource():
    stub = codec.Unsaved("psycopg.connection.Connection.connect", "job.py:3", "Connection", "")
    with pytest.raises(UnsavedResultError, match="whole transaction") as raised:
        stub.execute("select 1")
    assert "declare the callable a resource" not in str(raised.value)


def test_read_only_views_are_saved_as_views_of_a_copy():
    import multidict  # aiohttp's, a test dependency

    headers = multidict.CIMultiDictProxy(multidict.CIMultiDict({"Content-Type": "text/plain"}))
    outcome, payload = codec.encode_result({"headers": headers})
    assert outcome == "ok"
    restored = pickle.loads(payload)["headers"]
    assert type(restored) is type(headers) and restored["content-type"] == "text/plain"


def test_large_results_have_no_size_limit():
    big = b"x" * (40 * 1024 * 1024)
    outcome, payload = codec.encode_result(big)
    assert outcome == "ok" and pickle.loads(payload) == big
