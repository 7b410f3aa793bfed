"""The web console of ``durable-python serve`` in a real browser (Debian's chromium, headless,
driven by Playwright), on both stores: the tests start the server and real runs, then read the
runs list, a run's timeline, journal and source from the page, and use its actions: send an
event, cancel, replay after an edit, fork. Screenshots of the pages are saved as test artifacts
(``DURABLE_PYTHON_TEST_ARTIFACTS``, default ``test-artifacts/`` in the repository).

No timing assertions: Playwright's ``expect`` waits (up to its timeout) for what the page must
come to show, as a live run's page updates itself.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from .conftest import REPO, STEPS, Server, ServeSandbox

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
LIVE = 30_000  # ms a run may take to reach what the page must show (a process starts, a replay)
expect.set_options(timeout=LIVE)  # every assertion waits that long on a loaded machine, not 5 s

NOOP = "print('ok')\n"
BOOM = "raise RuntimeError('boom')\n"

# A retry (the first call of flaky.fetch fails), a sleep, two tasks of a pool, then a wait for
# an event: every kind of bar the timeline draws.
WORKFLOW = """
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import durable_python
import flaky

out = Path(sys.argv[1])
out.mkdir(exist_ok=True)
with durable_python.retry(max_attempts=3, initial_interval=0.2):
    flaky.fetch(str(out / "tried"))
with ThreadPoolExecutor(2) as pool:
    list(pool.map(lambda n: (out / f"part-{n}.txt").write_text(f"part {n}\\n"), range(2)))
time.sleep(0.3)
print("waiting for approval")
decision = durable_python.wait_for_event("approval")
(out / "done.txt").write_text(f"approved by {decision['by']}\\n")
print("approved by", decision["by"])
"""

FLAKY = """
import os


def fetch(marker):
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise ConnectionError("the first try fails")
    return {"ok": True}
"""


# ----- the browser ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"no browser at {CHROMIUM}: the console tests drive Debian's chromium. Install it"
            " with: sudo apt-get install chromium",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(LIVE)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))

    def console(message: ConsoleMessage) -> None:
        # The page's own failures; a refused request (a 409 we provoke) is the API's answer,
        # shown in the page's message area, and the browser logs it too.
        if message.type == "error" and "Failed to load resource" not in message.text:
            errors.append(f"console: {message.text}")

    page.on("console", console)
    page.on("dialog", lambda dialog: dialog.accept())  # "Cancel run ...?", "Fork ...?"
    yield page
    context.close()
    assert errors == [], errors


@pytest.fixture(scope="module")
def artifacts() -> Path:
    directory = Path(os.environ.get("DURABLE_PYTHON_TEST_ARTIFACTS") or REPO / "test-artifacts")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def screenshot(page: Page, artifacts: Path, request: pytest.FixtureRequest, name: str) -> None:
    test = re.sub(r"[^\w.-]+", "-", request.node.name).strip("-")
    page.screenshot(path=artifacts / f"console-{test}-{name}.png", full_page=True)


def start(server: Server, script: str, run_id: str, *args: str) -> None:
    response = server.post("/runs", json={"script": script, "args": list(args), "run_id": run_id})
    assert response.status_code == 202, response.text


def local_time(timestamp: float) -> str:
    """A ``datetime-local`` input's value (the browser runs in this machine's time zone)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(timestamp))


# ----- the runs list --------------------------------------------------------------------------


def test_the_runs_list_filters_and_pages(
    sandbox: ServeSandbox, page: Page, artifacts: Path, request: pytest.FixtureRequest
) -> None:
    sandbox.write("jobs/noop.py", NOOP)
    sandbox.write("jobs/boom.py", BOOM)
    sandbox.write("jobs/steps.py", STEPS)
    server = sandbox.serve()
    ids = [f"batch-{n:02}" for n in range(12)]
    for n, run_id in enumerate(ids):
        start(server, "jobs/noop.py", run_id, "invoice" if n % 2 else "refund", str(1000 + n))
    start(server, "jobs/boom.py", "boom")
    start(server, "jobs/steps.py", "waits", "out")
    for run_id in ids:
        server.wait_status(run_id, ("completed",))
    server.wait_status("boom", ("failed",))
    server.wait_status("waits", ("suspended",))
    newest_first = [run["run_id"] for run in server.get("/runs").json()["runs"]]
    assert sorted(newest_first) == sorted([*ids, "boom", "waits"])

    def shown() -> list[str]:
        return page.get_by_test_id("run-row").evaluate_all(
            "rows => rows.map(row => row.dataset.runId)"
        )

    rows = page.get_by_test_id("run-row")
    page.goto(f"{server.url}/#/?limit=5")
    expect(rows).to_have_count(5)
    assert shown() == newest_first[:5]
    expect(page.get_by_test_id("page-size")).to_have_value("5")
    expect(page.get_by_test_id("prev-page")).to_be_disabled()
    first = rows.first
    expect(first.get_by_test_id("run-status")).to_have_text(server.run(newest_first[0])["status"])
    screenshot(page, artifacts, request, "list")

    page.get_by_test_id("next-page").click()
    expect(rows.first).to_have_attribute("data-run-id", newest_first[5])
    assert shown() == newest_first[5:10]
    page.get_by_test_id("next-page").click()
    expect(rows).to_have_count(4)
    assert shown() == newest_first[10:]
    expect(page.get_by_test_id("next-page")).to_be_disabled()
    page.get_by_test_id("prev-page").click()
    expect(rows.first).to_have_attribute("data-run-id", newest_first[5])
    page.reload()  # the page is in the URL: the same list after a reload
    expect(rows.first).to_have_attribute("data-run-id", newest_first[5])
    page.get_by_test_id("prev-page").click()
    expect(rows.first).to_have_attribute("data-run-id", newest_first[0])
    expect(rows).to_have_count(5)

    page.get_by_test_id("filter-status").select_option("failed")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-run-id", "boom")
    expect(rows.first.get_by_test_id("run-status")).to_have_text("failed")
    expect(rows.first).to_contain_text("RuntimeError: boom")
    assert "status=failed" in page.url
    page.get_by_test_id("filter-status").select_option("suspended")
    expect(rows.first).to_have_attribute("data-run-id", "waits")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("waits for go")

    page.get_by_test_id("clear-filters").click()
    page.get_by_test_id("page-size").select_option("50")
    expect(rows).to_have_count(14)
    page.get_by_test_id("filter-q").fill("INVOICE")
    page.get_by_test_id("filter-q").press("Enter")
    expect(rows).to_have_count(6)
    assert set(shown()) == set(ids[1::2])
    page.get_by_test_id("filter-q").fill("1004")  # an argument
    page.get_by_test_id("filter-q").press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-run-id", "batch-04")
    assert "q=1004" in page.url

    page.get_by_test_id("filter-q").fill("")
    page.get_by_test_id("filter-script").fill("boom")
    page.get_by_test_id("filter-script").press("Enter")
    expect(rows).to_have_count(1)
    later = time.time() + 3600
    page.get_by_test_id("filter-script").fill("")
    page.get_by_test_id("filter-since").fill(local_time(later))
    expect(page.get_by_test_id("run-rows")).to_contain_text("No runs match these filters")
    page.get_by_test_id("filter-since").fill("")
    page.get_by_test_id("filter-until").fill(local_time(later))
    expect(rows).to_have_count(14)

    rows.filter(has_text="batch-04").get_by_test_id("run-link").click()
    expect(page.get_by_test_id("run-id")).to_have_text("batch-04")
    expect(page.get_by_test_id("run-status")).to_have_text("completed")
    expect(page.get_by_test_id("fact-args")).to_have_text("refund 1004")
    expect(page.get_by_test_id("fact-exit-code")).to_have_text("0")
    expect(page.get_by_test_id("output")).to_have_text("ok")
    page.get_by_test_id("back").click()  # back to the list as it was filtered
    expect(rows).to_have_count(14)
    assert "until=" in page.url


# ----- a run's page ---------------------------------------------------------------------------


def test_a_run_page_shows_its_timeline_journal_and_source_and_sends_an_event(
    sandbox: ServeSandbox, page: Page, artifacts: Path, request: pytest.FixtureRequest
) -> None:
    sandbox.write("jobs/workflow.py", WORKFLOW)
    sandbox.write("flaky.py", FLAKY, lib=True)
    server = sandbox.serve()
    start(server, "jobs/workflow.py", "order-7", "out-7", "invoice 7")
    server.wait_status("order-7", ("suspended",))
    journal = server.get("/runs/order-7/journal").json()
    source = server.get("/runs/order-7/source").json()

    page.goto(f"{server.url}/#/runs/order-7")
    expect(page.get_by_test_id("run-status")).to_have_text("suspended")
    expect(page.get_by_test_id("fact-script")).to_have_text("jobs/workflow.py")
    expect(page.get_by_test_id("fact-args")).to_have_text("out-7 'invoice 7'")
    expect(page.get_by_test_id("fact-waiting-for")).to_contain_text("approval")
    expect(page.get_by_test_id("event-name")).to_have_value("approval")

    # The timeline: a bar per journal entry, in rows per task, a retry and waits marked.
    bars = page.get_by_test_id("timeline-bar")
    expect(bars).to_have_count(len(journal))
    drawn = bars.evaluate_all(
        "bars => bars.map(b => [b.dataset.task, +b.dataset.seq, +b.dataset.attempt,"
        " b.dataset.policy])"
    )
    assert drawn == [[e["task"], e["seq"], e["attempt"], e["policy"]] for e in journal]
    tasks = page.get_by_test_id("timeline-task").all_text_contents()
    assert tasks[0] == "main" and len(tasks) == len({e["task"] for e in journal}) >= 3
    retry = page.locator("[data-testid=timeline-bar][data-retry]")
    expect(retry).to_have_count(1)
    expect(retry.get_by_test_id("attempt-label")).to_have_text("retry 1")
    expect(page.locator("[data-testid=timeline-bar][data-failed]")).to_have_count(1)
    timers = page.locator("[data-testid=timeline-bar][data-wait=timer]")
    expect(timers).to_have_count(2)  # the retry's back-off and the sleep
    sleep = timers.filter(has_text="time.sleep")
    assert sleep.locator("rect.fill").evaluate("r => r.getBBox().width") > 4  # until it was due
    expect(page.get_by_test_id("timeline-pending")).to_contain_text("waiting for “approval”")
    expect(page.get_by_test_id("timeline-legend")).to_contain_text("retry")

    # The journal as a table, row for row what the API says.
    rows = page.get_by_test_id("journal-row")
    expect(rows).to_have_count(len(journal))
    table = rows.evaluate_all(
        "rows => rows.map(r => ({position: r.querySelector('[data-col=position]').innerText,"
        " policy: r.dataset.policy, call: r.querySelector('.call-name').innerText,"
        " site: r.querySelector('[data-col=site]').innerText,"
        " error: r.querySelector('[data-col=error]').innerText}))"
    )
    assert table == [
        {
            "position": f"{e['task']}/{e['seq']}",
            "policy": e["policy"],
            "call": e["name"],
            "site": "workflow.py:" + e["site"].rpartition(":")[2],
            "error": e["error"] or "",
        }
        for e in journal
    ]
    assert "ConnectionError: the first try fails" in [row["error"] for row in table]

    # The source: the lines entries were recorded at, and the frontier.
    lines = page.get_by_test_id("source-line")
    expect(lines).to_have_count(len(source["text"].splitlines()))
    marked = page.locator("[data-testid=source-line].has-entries").evaluate_all(
        "lines => Object.fromEntries(lines.map(l => [l.dataset.line, l.dataset.entries]))"
    )
    assert marked == {line: " ".join(at) for line, at in source["lines"].items()}
    frontier = page.locator("[data-testid=source-line][data-frontier]")
    expect(frontier).to_have_attribute("data-line", str(source["frontier"]))
    expect(frontier).to_contain_text("waiting for approval")
    expect(page.get_by_test_id("source-changed")).to_have_count(0)
    expect(page.get_by_test_id("output")).to_have_text("waiting for approval")
    screenshot(page, artifacts, request, "run-waiting")

    # An event: a payload that is not JSON is refused in the page, then one is sent.
    page.get_by_test_id("event-payload").fill("{by: ada}")
    page.get_by_test_id("event-send").click()
    expect(page.get_by_test_id("event-error")).to_contain_text("not JSON")
    assert server.run("order-7")["status"] == "suspended"
    page.get_by_test_id("event-payload").fill('{"by": "ada"}')
    page.get_by_test_id("event-send").click()
    expect(page.get_by_test_id("event-result")).to_contain_text("Sent “approval”")
    expect(page.get_by_test_id("event-error")).to_be_hidden()
    expect(page.get_by_test_id("run-status")).to_have_text("completed", timeout=LIVE)
    finished = server.get("/runs/order-7/journal").json()
    expect(bars).to_have_count(len(finished))
    expect(rows).to_have_count(len(finished))
    event = page.locator("[data-testid=timeline-bar][data-wait=event]")
    expect(event).to_have_count(1)  # drawn from where the run began to wait, not a sliver
    assert event.locator("rect.fill").evaluate("r => r.getBBox().width") > 20
    expect(page.get_by_test_id("timeline-pending")).to_have_count(0)
    expect(page.get_by_test_id("fact-ended")).to_be_visible()
    expect(page.get_by_test_id("output")).to_contain_text("approved by ada")
    expect(page.get_by_test_id("cancel")).to_be_disabled()
    expect(page.get_by_test_id("event-send")).to_be_disabled()
    screenshot(page, artifacts, request, "run-completed")


def test_cancel_replay_and_fork_from_a_run_page(
    sandbox: ServeSandbox, page: Page, artifacts: Path, request: pytest.FixtureRequest
) -> None:
    script = sandbox.write("jobs/steps.py", STEPS)
    server = sandbox.serve()
    start(server, "jobs/steps.py", "steps", "out")
    start(server, "jobs/steps.py", "doomed", "out-doomed")
    for run_id in ("steps", "doomed"):
        server.wait_status(run_id, ("suspended",))

    page.goto(f"{server.url}/#/runs/doomed")
    expect(page.get_by_test_id("run-status")).to_have_text("suspended")
    page.get_by_test_id("cancel").click()  # the confirmation is accepted (the page fixture)
    expect(page.get_by_test_id("run-status")).to_have_text("cancelled")
    # Cancelled at once, or requested of the process still holding it (ending its suspension).
    expect(page.get_by_test_id("message")).to_contain_text(
        re.compile(r"Run doomed is cancelled|Cancel requested: run doomed")
    )
    expect(page.get_by_test_id("cancel")).to_be_disabled()
    assert server.run("doomed")["status"] == "cancelled"

    page.goto(f"{server.url}/#/runs/steps")
    expect(page.get_by_test_id("run-status")).to_have_text("suspended")
    page.get_by_test_id("replay").click()
    expect(page.get_by_test_id("verdict-status")).to_have_text("clean")
    expect(page.get_by_test_id("divergence")).to_have_count(0)

    page.get_by_test_id("resume").click()  # now, though what it waits for has not come
    expect(page.get_by_test_id("message").filter(has_text="resumed")).to_be_visible()
    server.wait_status("steps", ("suspended",))
    expect(page.get_by_test_id("run-status")).to_have_text("suspended")

    # Fork at the third write: a new run, and the page goes to it.
    page.get_by_test_id("journal-row").filter(has_text="main/3").get_by_test_id("fork").click()
    expect(page.get_by_test_id("run-id")).not_to_have_text("steps")
    fork_id = page.get_by_test_id("run-id").inner_text()
    assert page.url.endswith(f"#/runs/{fork_id}")
    expect(page.get_by_test_id("run-status")).to_have_text("suspended")
    assert server.run(fork_id)["status"] == "suspended"

    # An edit changes the arguments of a recorded call: the replay shows where, side by side.
    script.write_text(script.read_text().replace("step {n}", "STEP {n}"))
    page.goto(f"{server.url}/#/runs/steps")
    expect(page.get_by_test_id("source-changed")).to_be_visible()
    page.get_by_test_id("replay").click()
    expect(page.get_by_test_id("verdict-status")).to_have_text("diverged")
    expect(page.get_by_test_id("divergence-recorded")).to_contain_text("step 0")
    expect(page.get_by_test_id("divergence-attempted")).to_contain_text("STEP 0")
    expect(page.get_by_test_id("argument-diff")).to_contain_text("STEP 0")
    screenshot(page, artifacts, request, "run-diverged")

    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("run-status")).to_have_text("cancelled")
    page.get_by_test_id("resume").evaluate("button => button.disabled = false")
    page.get_by_test_id("resume").click()  # refused now: the API's answer is shown
    expect(page.get_by_test_id("message").filter(has_text="409")).to_contain_text(
        "nothing to resume"
    )
    server.post(f"/runs/{fork_id}/cancel")


def test_a_token_is_asked_for_once_and_sent_with_every_request(
    sandbox: ServeSandbox, page: Page
) -> None:
    sandbox.write("jobs/noop.py", NOOP)
    server = sandbox.serve(token="s3cret")
    start(server, "jobs/noop.py", "guarded")
    server.wait_status("guarded", ("completed",))
    page.goto(server.url)  # the page itself needs no token; its data does
    form = page.get_by_test_id("token-form")
    expect(form).to_be_visible()
    page.get_by_test_id("token-input").fill("wrong")
    page.get_by_test_id("token-input").press("Enter")
    expect(page.get_by_test_id("message")).to_contain_text("refused that token")
    expect(form).to_be_visible()
    page.get_by_test_id("token-input").fill("s3cret")
    page.get_by_test_id("token-input").press("Enter")
    expect(form).to_be_hidden()
    expect(page.get_by_test_id("run-row")).to_have_count(1)
    page.get_by_test_id("run-link").click()
    expect(page.get_by_test_id("run-status")).to_have_text("completed")
    page.reload()  # kept for the tab's session
    expect(page.get_by_test_id("run-status")).to_have_text("completed")
    expect(form).to_be_hidden()
