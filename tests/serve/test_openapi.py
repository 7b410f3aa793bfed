"""The HTTP API of ``durable-python serve`` tested from its own OpenAPI document with
schemathesis, over real HTTP against a server each test starts, on both stores.

The fuzz test generates requests for every operation from ``/openapi.json`` (schema-valid ones,
then schema-violating ones), about half of them aimed at what exists (runs, the event they wait
for, a script, a cursor the API gave), and checks every answer: never a 5xx, a documented status
code, content type, headers and body, a schema-valid request accepted, and a 2xx sent again
without the token or with a wrong one is refused. After it, a new run still completes (the
worker survived) and every run has ended (no process outlives the test).

What the fuzzing found (undocumented 422 and 400 answers, values the document allowed and the
API refused, NUL characters and lone surrogates answered with a 500 or killing the worker) has a
test of its own at the end, with the request that showed it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import Server, ServeSandbox

TOKEN = "t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOOP = 'print("noop")\n'
# A wait this long suspends the run at once (serve's --suspend-after is 30 s): no process, and
# the test cancels it at the end if no "go" came.
WAIT = """
import durable_python

print("waiting")
try:
    print("go", durable_python.wait_for_event("go", timeout=60))
except TimeoutError:
    print("no go")
"""
# Runs the fuzzing finds: one finished, three waiting for the event "go".
KNOWN = {"known-1": "noop.py", "known-2": "wait.py", "known-3": "wait.py", "known-4": "wait.py"}
FINAL = ("completed", "exited", "cancelled")
EVENTS = "/runs/{run_id}/events/{name}"
FORK = "/runs/{run_id}/fork"

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,  # a 2xx is sent again without the token and with a wrong one: refused
]


# ----- the server -----------------------------------------------------------------------------


@pytest.fixture
def server(sandbox: ServeSandbox) -> Iterator[Server]:
    """``serve --token t0ken`` of the scripts ``noop.py`` and ``wait.py``; every run it has is
    ended afterwards."""
    sandbox.write("jobs/noop.py", NOOP)
    sandbox.write("jobs/wait.py", WAIT)
    # two runs at a time: the fuzzed starts, forks and resumes queue instead of crowding 2 cores
    server = sandbox.serve("--scripts", "jobs", "--concurrency", "2", token=TOKEN)
    yield server
    finish_every_run(server)


def start_known_runs(server: Server) -> None:
    for run_id, script in KNOWN.items():
        started = server.post("/runs", json={"script": script, "run_id": run_id})
        assert started.status_code == 202, started.text
    for run_id, script in KNOWN.items():
        server.wait_status(run_id, ("completed",) if script == "noop.py" else ("suspended",))


def finish_every_run(server: Server) -> None:
    """Cancel every run that has not ended, and wait until each has."""
    for run in all_runs(server):
        if run["status"] not in FINAL:
            cancel = server.post(f"/runs/{run['run_id']}/cancel")
            assert cancel.status_code in (202, 409), cancel.text
    for run in all_runs(server):
        server.wait_status(run["run_id"], FINAL)


def all_runs(server: Server) -> list[dict[str, Any]]:
    runs, cursor = [], None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = server.get("/runs", params=params)
        assert page.status_code == 200, page.text
        runs += page.json()["runs"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return runs


def assert_runs_still_complete(server: Server, run_id: str) -> None:
    """The worker is alive: a new run of ``noop.py`` completes."""
    started = server.post("/runs", json={"script": "noop.py", "run_id": run_id})
    assert started.status_code == 202, started.text
    server.wait_status(run_id, ("completed",), timeout=60)


# ----- the document ---------------------------------------------------------------------------


def document(server: Server) -> dict[str, Any]:
    answer = server.get("/openapi.json")
    assert answer.status_code == 200, answer.text
    return answer.json()


def load(raw: dict[str, Any]) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_dict(raw, config=schemathesis.Config())


# ----- the fuzz test --------------------------------------------------------------------------

# Values that exist, which about half the cases use: a known run, the event its script waits
# for, the one script a fuzzed start runs (it ends at once), a cursor the API gave (CURSOR: the
# test fills it in), journal positions every run has.
CURSOR = "a cursor the API gave"
PATH_AIMS = {"run_id": list(KNOWN), "name": ["go"]}
# Operations that end a waiting run each aim at one of their own (and at the finished one).
RUNS_AIMED = {
    "POST /runs/{run_id}/events/{name}": ["known-1", "known-2"],
    "POST /runs/{run_id}/cancel": ["known-1", "known-3"],
    "POST /runs/{run_id}/resume": ["known-1", "known-4"],
}
AIMS = {
    "POST /runs": {("body", "script"): ["noop.py"], ("body", "run_id"): list(KNOWN)},
    "GET /runs": {("query", "cursor"): [CURSOR]},
    "POST /runs/{run_id}/fork": {("body", "at"): ["0", "main/1"]},
}
# Values whose validity depends on the store, not on the document: a generated one that the
# API refuses with a 422 is right (a cursor it did not give, a position past a run's journal).
OPAQUE = {"GET /runs": ("query", "cursor"), "POST /runs/{run_id}/fork": ("body", "at")}
# Operations that start a process for each request they accept get fewer examples.
COSTLY = {
    "POST /runs/{run_id}/resume",
    "POST /runs/{run_id}/fork",
    "POST /runs/{run_id}/replay",
}


def test_the_api_keeps_to_its_openapi_document(server: Server) -> None:
    start_known_runs(server)
    schema = load(document(server))
    cursor = server.get("/runs", params={"limit": 1}).json()["next_cursor"]
    assert cursor is not None
    with requests.Session() as session:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for result in schema.get_all_operations():
                fuzz(server, session, result.ok(), mode, cursor)
    assert_runs_still_complete(server, "after")


def fuzz(
    server: Server, session: requests.Session, operation: Any, mode: GenerationMode, cursor: str
) -> None:
    """Send ``operation`` the cases ``mode`` generates, and check each answer."""
    aims = {
        place: [cursor if value == CURSOR else value for value in values]
        for place, values in AIMS.get(operation.label, {}).items()
    }
    # The budget (fixed: the ci profile derandomizes): about 20 s a store for 10 operations.
    few = operation.label in COSTLY
    if mode == GenerationMode.POSITIVE:
        examples = 6 if few else 25
    else:
        examples = 3 if few else 12

    @settings(
        max_examples=examples,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=cases(operation, mode, aims))
    def keeps_to_it(case: Any) -> None:
        case.call_and_validate(
            base_url=server.url,
            session=session,
            headers=AUTH,
            checks=checks_for(case, mode, aims),
            timeout=60,
        )

    keeps_to_it()


def cases(operation: Any, mode: GenerationMode, aims: dict) -> st.SearchStrategy:
    """Cases of ``operation``, about half of them with the values of ``PATH_AIMS`` (or
    ``RUNS_AIMED``) and ``aims``."""
    names = {parameter.name for parameter in operation.path_parameters}
    path_aims = {**PATH_AIMS, "run_id": RUNS_AIMED.get(operation.label, PATH_AIMS["run_id"])}
    path = st.fixed_dictionaries(
        {}, optional={n: st.sampled_from(v) for n, v in path_aims.items() if n in names}
    )
    generated = path.flatmap(
        lambda fixed: operation.as_strategy(generation_mode=mode, path_parameters=fixed or None)
    )
    if not aims:
        return generated
    chosen = st.fixed_dictionaries(
        {}, optional={place: st.sampled_from(values) for place, values in aims.items()}
    )
    return st.tuples(generated, chosen).map(aim)


def aim(drawn: tuple[Any, dict[tuple[str, str], str]]) -> Any:
    case, chosen = drawn
    for (location, name), value in chosen.items():
        container = getattr(case, location)
        if isinstance(container, dict):
            container[name] = value
    return case


def checks_for(case: Any, mode: GenerationMode, aims: dict) -> list[Any]:
    """``CHECKS``, and for a schema-valid request that it is accepted, unless it carries a
    generated value of ``OPAQUE``."""
    if mode != GenerationMode.POSITIVE:
        return CHECKS
    place = OPAQUE.get(case.operation.label)
    if place is not None:
        location, name = place
        container = getattr(case, location)
        if isinstance(container, dict) and container.get(name, aims[place][0]) not in aims[place]:
            return CHECKS
    return [*CHECKS, positive_data_acceptance]


# ----- the token ------------------------------------------------------------------------------


def test_a_missing_or_wrong_token_is_a_401_on_every_operation(server: Server) -> None:
    schema = load(document(server))
    targets = {"run_id": "known-1", "name": "go"}
    wrong = ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"})
    for operation in (result.ok() for result in schema.get_all_operations()):
        names = {parameter.name for parameter in operation.path_parameters}
        path = {name: value for name, value in targets.items() if name in names}
        body = {"script": "noop.py", "run_id": "never"} if operation.label == "POST /runs" else None
        case = operation.Case(path_parameters=path, **({"body": body} if body else {}))
        for headers in wrong:
            response = case.call(base_url=server.url, headers=headers, timeout=30)
            assert response.status_code == 401, (operation.label, headers, response.text)
            assert response.headers["www-authenticate"] == ["Bearer"]
            case.validate_response(response, checks=CHECKS)
    for headers in wrong:
        assert requests.get(f"{server.url}/openapi.json", headers=headers).status_code == 401
    assert all_runs(server) == []


# ----- what the fuzzing found: each request as a test of its own -------------------------------


def send(schema: schemathesis.BaseSchema, server: Server, method: str, path: str, **parts: Any):
    """Send the request of ``parts`` to the operation at ``method path`` and check its answer
    with ``CHECKS``; the answer."""
    case = schema[path][method].Case(**parts)
    return case.call_and_validate(base_url=server.url, headers=AUTH, checks=CHECKS, timeout=30)


def send_raw(
    schema: schemathesis.BaseSchema, server: Server, path: str, body: bytes, **parameters: str
):
    """POST ``body`` as is, as application/json, to the operation at ``path``; the answer,
    checked with ``CHECKS``."""
    case = schema[path]["POST"].Case(path_parameters=parameters)
    headers = {**AUTH, "Content-Type": "application/json"}
    url = server.url + case.formatted_path
    response = requests.post(url, data=body, headers=headers, timeout=30)
    case.validate_response(response, checks=CHECKS, headers=headers)
    return response


def test_every_422_is_documented(server: Server) -> None:
    schema = load(document(server))
    assert server.post("/runs", json={"script": "noop.py", "run_id": "ran"}).status_code == 202
    # the API's own refusals where the document has FastAPI's (HTTPValidationError)
    assert send(schema, server, "GET", "/runs", query={"cursor": "garbage!"}).status_code == 422
    bad_id = {"script": "noop.py", "run_id": "../x"}
    assert send(schema, server, "POST", "/runs", body=bad_id).status_code == 422
    not_json = send_raw(schema, server, EVENTS, b"{nope", run_id="ran", name="go")
    assert not_json.status_code in (409, 422)  # 409: the run has ended
    # FastAPI's where the document has the API's own (Problem)
    no_at = send(schema, server, "POST", FORK, path_parameters={"run_id": "ran"}, body={})
    assert no_at.status_code == 422


def test_the_document_refuses_what_the_api_refuses_as_malformed(server: Server) -> None:
    schema = load(document(server))
    assert server.post("/runs", json={"script": "noop.py", "run_id": "ran"}).status_code == 202
    starts = [
        {"script": ""},
        {"script": "noop.py\x00"},
        {"script": "noop.py", "run_id": "../x"},
        {"script": "noop.py", "run_id": "x" * 129},
    ]
    forks = [{"at": ""}, {"at": "main/"}, {"at": "first"}]
    for path, bodies in (("/runs", starts), ("/runs/ran/fork", forks)):
        operation = schema[path.replace("ran", "{run_id}")]["POST"]
        (body,) = operation.body
        for refused in bodies:
            assert server.post(path, json=refused).status_code == 422, refused
            with pytest.raises(jsonschema_rs.ValidationError):
                body.validate(refused)


def test_a_start_that_is_not_utf8_has_a_documented_answer(server: Server) -> None:
    schema = load(document(server))
    assert send_raw(schema, server, "/runs", b'{"script": "\xff"}').status_code in (400, 422)


def test_a_nul_in_a_run_id_or_an_event_name_is_no_server_error(server: Server) -> None:
    start_known_runs(server)
    schema = load(document(server))
    nul = {"run_id": "a\x00b"}
    assert send(schema, server, "GET", "/runs/{run_id}", path_parameters=nul).status_code == 404
    journal = send(schema, server, "GET", "/runs/{run_id}/journal", path_parameters=nul)
    assert journal.status_code == 404
    cancel = send(schema, server, "POST", "/runs/{run_id}/cancel", path_parameters=nul)
    assert cancel.status_code == 404
    event = {"run_id": "known-2", "name": "a\x00b"}
    sent = send(schema, server, "POST", EVENTS, path_parameters=event)
    assert sent.status_code in (202, 422)


def test_an_argument_with_a_nul_is_refused(server: Server) -> None:
    schema = load(document(server))
    start = {"script": "noop.py", "args": ["a\x00b"], "run_id": "nul-arg"}
    assert send(schema, server, "POST", "/runs", body=start).status_code == 422
    assert_runs_still_complete(server, "after")


def test_a_start_with_a_lone_surrogate_is_refused(server: Server) -> None:
    schema = load(document(server))
    for start in ({"script": "\ud800.py"}, {"script": "noop.py", "args": ["\ud800"]}):
        assert send(schema, server, "POST", "/runs", body=start).status_code == 422, start
    assert send(schema, server, "GET", "/runs").status_code == 200


def test_a_payload_with_a_lone_surrogate_leaves_the_journal_readable(server: Server) -> None:
    start_known_runs(server)
    schema = load(document(server))
    event = {"run_id": "known-2", "name": "go"}
    payload = {"by": "\ud800"}
    sent = send(schema, server, "POST", EVENTS, path_parameters=event, body=payload)
    if sent.status_code == 202:
        server.wait_status("known-2", ("completed",))
        run = {"run_id": "known-2"}
        journal = send(schema, server, "GET", "/runs/{run_id}/journal", path_parameters=run)
        assert journal.status_code == 200
    else:
        assert sent.status_code == 422
