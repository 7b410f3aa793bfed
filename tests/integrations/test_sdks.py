"""The official SDKs, unconfigured, killed and resumed: openai (tool calls, streaming, async
gather), slack_sdk, boto3 against moto's server, PyGithub against a fake REST API.

Each service is a fake on 127.0.0.1 started by the test, so what reached it is counted outside the
process that is killed. Witness: every distinct request reaches the fake at most once more per
kill (the call in flight), the output is printed once, and the run ends with exit code 0.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fake_github import FakeGitHub

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "scripts" / "examples"


def _load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fake_llm_api = _load_example("fake_llm_api")


@pytest.fixture
def llm() -> Iterator[fake_llm_api.FakeLLM]:
    fake = fake_llm_api.FakeLLM()
    fake.start()
    yield fake
    fake.close()


def assert_survives_kills(
    ih,
    args: list[str],
    kill_plans: list[list[int]],
    start_fake: Callable[[], tuple[list[str], Callable[[], dict[str, int]]]],
    reference: str,
    env: dict | None = None,
    in_flight: int = 1,
) -> None:
    """For each crash schedule, on a new store and a new fake: the series succeeds, prints
    ``reference`` once, and sends no more requests again than were in flight at the crashes
    (``in_flight`` at a time)."""
    expected = None
    for kill_ats in [[10_000], *kill_plans]:  # the first: uninterrupted, counts what it sends
        ih.fresh()
        extra_args, counts = start_fake()
        series = ih.series(*args, *extra_args, kill_ats=kill_ats, env=env)
        assert series.stdout == reference, series
        if expected is None:
            expected = counts()
            assert expected and set(expected.values()) == {1}, expected
            continue
        assert series.crashes == len(kill_ats), series
        allowed = series.crashes * in_flight
        ih.assert_repeats_at_most(expected, counts(), allowed, series)


def kill_plans_for(ih) -> list[list[int]]:
    """Kill points spread over the journal of the run just made, and a series of two (each
    series starts the SDK's import again: a second or so per attempt)."""
    total = len(ih.entries())
    points = sorted({1, total // 2, total - 1})
    return [[p] for p in points if 0 < p < total] + [[2, 4]]


# ----- openai --------------------------------------------------------------------------------


def test_the_agent_example_resumes_without_asking_the_model_again(ih, llm):
    ih.write("agent.py", (EXAMPLES / "llm_agent.py").read_text())
    question = "What is the weather in Paris, Tokyo and Oslo?"
    env = {"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "test"}
    reference = ih.python("agent.py", question, env=env)
    assert reference.returncode == 0 and "turn 1: 3 tool calls" in reference.stdout, reference
    assert "Oslo: 6C rain" in reference.stdout, reference
    ih.run("agent.py", question, env=env)
    plans = kill_plans_for(ih)
    fakes: list[fake_llm_api.FakeLLM] = []

    def start_fake():
        fakes.append(fake_llm_api.FakeLLM())
        env["OPENAI_BASE_URL"] = fakes[-1].start()
        return [], fakes[-1].counts

    try:
        assert_survives_kills(ih, ["agent.py", question], plans, start_fake, reference.stdout, env)
    finally:
        for fake in fakes:
            fake.close()
    shown = {e["name"]: e for e in ih.entries()}
    assert shown["openai.OpenAI"]["outcome"] == "constructed", shown
    assert "constructed again on replay" in shown["openai.OpenAI"]["summary"]


STREAMING = """
import sys, time
from openai import OpenAI

client = OpenAI(base_url=sys.argv[1], api_key="test")
stream = client.chat.completions.create(
    model="m", messages=[{"role": "user", "content": "stream one two three four"}], stream=True
)
print("streamed:", "".join(c.choices[0].delta.content or "" for c in stream if c.choices))
time.sleep(0.05)
with client.chat.completions.stream(
    model="m", messages=[{"role": "user", "content": "manager five six"}]
) as events:
    kinds = {event.type for event in events}
    final = events.get_final_completion()
print("events:", "content.delta" in kinds, final.choices[0].message.content)
time.sleep(0.05)
print("done")
"""


def test_streams_are_recorded_as_their_chunks(ih, llm):
    ih.write("stream.py", STREAMING)
    reference = ih.python("stream.py", llm.base_url)
    assert reference.returncode == 0, reference
    assert "streamed: Echo: stream one two three four" in reference.stdout
    assert "events: True Echo: manager five six" in reference.stdout
    ih.run("stream.py", llm.base_url)
    shown = [e["summary"] for e in ih.entries() if e["policy"] == "effect"]
    assert any(s.startswith("<recorded stream of ") for s in shown), shown
    plans = kill_plans_for(ih)

    def start_fake():
        fake = fake_llm_api.FakeLLM()
        return [fake.start()], fake.counts

    assert_survives_kills(ih, ["stream.py"], plans, start_fake, reference.stdout)


def test_a_crash_mid_stream_sends_the_request_again_once(ih):
    ih.write("stream.py", STREAMING)
    slow = fake_llm_api.FakeLLM(chunk_delay=0.4)
    url = slow.start()
    try:
        process = ih.start("run", "stream.py", url)
        deadline = time.monotonic() + 60
        while slow.total() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # a chunk or two has arrived, the stream is not over
        process.kill()
        killed = process.finish(timeout=60)
        assert "streamed:" not in killed.stdout, killed
        slow.chunk_delay = 0
        resumed = ih.run("stream.py", url)
        assert resumed.returncode == 0, resumed
        assert resumed.stdout.count("streamed: Echo: stream one two three four") == 1, resumed
        assert sorted(slow.counts().values()) == [1, 2], slow.counts()  # the first one twice
    finally:
        slow.close()


ASYNC_GATHER = """
import asyncio, sys
from openai import AsyncOpenAI

async def ask(client, question):
    reply = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": question}]
    )
    return reply.choices[0].message.content

async def main():
    client = AsyncOpenAI(base_url=sys.argv[1], api_key="test")
    answers = await asyncio.gather(*(ask(client, f"question {i}") for i in range(4)))
    print("\\n".join(answers))
    await asyncio.sleep(0.05)
    stream = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "async stream a b c"}], stream=True
    )
    print("async streamed:", "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]))
    await asyncio.sleep(0.05)
    print("done")

asyncio.run(main())
"""


def test_async_calls_fanned_out_with_gather_replay_per_task(ih, llm):
    ih.write("fanout.py", ASYNC_GATHER)
    reference = ih.python("fanout.py", llm.base_url)
    assert reference.returncode == 0 and "Echo: question 3" in reference.stdout, reference
    ih.run("fanout.py", llm.base_url)
    tasks = {e["task"] for e in ih.entries()}
    assert len(tasks) == 5, tasks  # main, and one per gathered call
    names = {e["name"] for e in ih.entries()}
    assert not any("get_platform" in n for n in names), names  # the SDK's own to_thread
    plans = kill_plans_for(ih)

    def start_fake():
        fake = fake_llm_api.FakeLLM()
        return [fake.start()], fake.counts

    gathered = 4  # calls in flight together
    assert_survives_kills(ih, ["fanout.py"], plans, start_fake, reference.stdout, None, gathered)


# ----- slack_sdk -----------------------------------------------------------------------------


class FakeSlack:
    """Slack's Web API, enough for ``chat.postMessage`` and ``conversations.info``; counts each
    request by method and body."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server protocol
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                fake.requests[f"{self.command} {self.path} {body}"] += 1
                if self.path.split("?")[0].endswith("chat.postMessage"):
                    reply = {"ok": True, "channel": "C1", "ts": f"{len(fake.requests)}.0001"}
                else:
                    reply = {"ok": True, "channel": {"id": "C1", "name": "deploys"}}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST  # noqa: N815 - the async client reads with GET

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/api/"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def counts(self) -> dict[str, int]:
        return dict(self.requests)

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


SLACK = """
import sys, time
from slack_sdk import WebClient

client = WebClient(token="xoxb-test", base_url=sys.argv[1])
channel = client.conversations_info(channel="C1")["channel"]["name"]
for step in ("build", "test", "deploy"):
    reply = client.chat_postMessage(channel="C1", text=f"{step} finished")
    print(step, "posted to", channel, reply["ok"])
    time.sleep(0.02)
print("done")
"""


SLACK_ASYNC = """
import asyncio, sys
from slack_sdk.web.async_client import AsyncWebClient

async def main():
    client = AsyncWebClient(token="xoxb-test", base_url=sys.argv[1])
    channel = (await client.conversations_info(channel="C1"))["channel"]["name"]
    replies = await asyncio.gather(
        *(client.chat_postMessage(channel="C1", text=f"{step} finished") for step in ("build", "test"))
    )
    print("posted to", channel, [reply["ok"] for reply in replies])
    await asyncio.sleep(0.02)
    print("done")

asyncio.run(main())
"""


@pytest.mark.parametrize("script", [SLACK, SLACK_ASYNC], ids=["WebClient", "AsyncWebClient"])
def test_slack_messages_are_posted_once(ih, script):
    ih.write("notify.py", script)
    fakes = [FakeSlack()]
    try:
        reference = ih.python("notify.py", fakes[0].url)
        assert reference.returncode == 0 and "posted to deploys" in reference.stdout, reference
        ih.run("notify.py", fakes[0].url)
        plans = kill_plans_for(ih)

        def start_fake():
            fakes.append(FakeSlack())
            return [fakes[-1].url], fakes[-1].counts

        in_flight = 2 if script is SLACK_ASYNC else 1
        assert_survives_kills(
            ih, ["notify.py"], plans, start_fake, reference.stdout, None, in_flight
        )
    finally:
        for fake in fakes:
            fake.close()


# ----- boto3 against moto's server ---------------------------------------------------------

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """moto's S3 server, a process of its own on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=30)


S3 = """
import sys, time
import boto3

endpoint, bucket = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
for i in range(3):
    s3.put_object(Bucket=bucket, Key=f"report-{i}.txt", Body=f"line {i}".encode())
    time.sleep(0.02)
listed = s3.list_objects_v2(Bucket=bucket)
print("keys", sorted(o["Key"] for o in listed["Contents"]))
print("body", s3.get_object(Bucket=bucket, Key="report-1.txt")["Body"].read())
resource = boto3.session.Session(region_name="us-east-1").resource("s3", endpoint_url=endpoint)
print("resource", resource.Object(bucket, "report-2.txt").get()["Body"].read())
print("done")
"""


def test_s3_objects_are_put_once(ih, moto_server):
    import boto3

    admin = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1", **{
        "aws_access_key_id": "test", "aws_secret_access_key": "test"})  # fmt: skip
    # The moto server lives as long as the session: each test (each store) has buckets of its own.
    buckets = iter(f"bucket-{ih.root.name[-12:].lower().replace('_', '-')}-{i}" for i in range(100))

    def start_fake():
        bucket = next(buckets)
        admin.create_bucket(Bucket=bucket)
        admin.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

        def puts() -> dict[str, int]:  # each put makes a version
            versions = admin.list_object_versions(Bucket=bucket).get("Versions", [])
            return dict(Counter(v["Key"] for v in versions))

        return [moto_server, bucket], puts

    ih.write("upload.py", S3)
    args, _ = start_fake()
    reference = ih.python("upload.py", *args, env=CREDENTIALS)
    assert reference.returncode == 0 and "resource b'line 2'" in reference.stdout, reference
    ih.run("upload.py", *start_fake()[0], env=CREDENTIALS)
    plans = kill_plans_for(ih)
    assert_survives_kills(ih, ["upload.py"], plans, start_fake, reference.stdout, CREDENTIALS)


# ----- PyGithub against a fake REST API ------------------------------------------------------

GITHUB = """
import sys, time
from github import Auth, Github

# PyGithub waits a second between two writes by default: not while testing
gh = Github(base_url=sys.argv[1], auth=Auth.Token("t"), seconds_between_writes=0)
repo = gh.get_repo("acme/widgets")
pulls = repo.get_pulls(state="open")
print("open pull requests", pulls.totalCount)
for pr in pulls:
    pr.create_issue_comment(f"Reminder: #{pr.number} {pr.title} waits for review")
    print("reminded", pr.number, pr.user.login)
    time.sleep(0.02)
repo.get_issue(1).add_to_labels("stale")
print("signed", gh.get_user().login)
"""


def test_pull_request_reminders_are_posted_once(ih):
    ih.write("remind.py", GITHUB)
    fakes = [FakeGitHub()]
    try:
        reference = ih.python("remind.py", fakes[0].start())
        assert reference.returncode == 0 and "reminded 1 " in reference.stdout, reference
        ih.run("remind.py", fakes[0].url)
        plans = kill_plans_for(ih)

        def start_fake():
            fakes.append(FakeGitHub())
            url = fakes[-1].start()
            return [url], fakes[-1].counts

        assert_survives_kills(ih, ["remind.py"], plans, start_fake, reference.stdout)
    finally:
        for fake in fakes:
            fake.close()


UNREACHABLE = """
import boto3

s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:9", region_name="us-east-1")
s3.put_object(Bucket="bucket-x", Key="k", Body=b"x")
"""


def test_an_sdk_error_reads_as_under_python(ih):
    ih.write("unreachable.py", UNREACHABLE)
    env = {**CREDENTIALS, "AWS_MAX_ATTEMPTS": "1"}
    plain = ih.python("unreachable.py", env=env)
    durable = ih.run("unreachable.py", env=env)
    assert plain.returncode == durable.returncode == 1, durable

    def frames(stderr: str) -> list[str]:
        return [line for line in stderr.splitlines() if line.strip().startswith("File ")]

    assert frames(durable.stderr) == frames(plain.stderr), durable.stderr
    assert durable.stderr.splitlines()[-1] == plain.stderr.splitlines()[-1]
