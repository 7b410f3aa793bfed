"""HTTP clients: each request is sent once across resumes and its response replays, fully usable;
sessions and clients are resources; the Idempotency-Key option keeps a repeated request's key."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e
pytest.importorskip("requests")
pytest.importorskip("httpx")

SCRIPT = """
import asyncio, json, sys, time, urllib.error, urllib.request
import httpx, requests

base = sys.argv[1]
r = requests.get(f"{base}/a", params={"q": "1"})
print("requests.get", r.status_code, r.json()["path"], r.headers["X-Witness"], r.ok, r.url.endswith("?q=1"))
with requests.Session() as s:
    s.headers["User-Agent"] = "durable-test"
    r = s.post(f"{base}/b", json={"x": 1})
    print("session.post", r.json()["method"], r.json()["body"], r.json()["key"] is not None)
    with s.get(f"{base}/c", stream=True) as streamed:
        print("stream", b"".join(streamed.iter_content(5)) == streamed.content, list(streamed.iter_lines())[0][:9])
try:
    requests.get(f"{base}/d", params={"fail": "9"}).raise_for_status()
except requests.HTTPError as e:
    print("raise_for_status", e.response.status_code)
with httpx.Client(base_url=base, headers={"User-Agent": "durable-test"}) as client:
    h = client.get("/e")
    print("httpx.get", h.status_code, h.json()["path"], h.headers["x-witness"], h.is_success, list(h.iter_lines())[0][:9])
    with client.stream("GET", "/f") as sr:
        print("httpx.stream", b"".join(sr.iter_bytes())[:9], sr.status_code)
    h = client.put("/g", content=b"payload")
    print("httpx.put", h.json()["body"], h.json()["key"] is not None)
print("httpx.post", httpx.post(f"{base}/h", data={"k": "v"}).json()["body"])

async def main():
    async with httpx.AsyncClient(base_url=base) as client:
        a = await client.get("/i")
        b = await client.post("/j", json={"n": 1})
        return a.json()["path"], b.json()["key"] is not None

print("async", asyncio.run(main()))
with urllib.request.urlopen(f"{base}/k") as u:
    print("urlopen", u.status, u.getheader("X-Witness"), json.loads(u.read())["path"], u.geturl().endswith("/k"))
request = urllib.request.Request(f"{base}/l", data=b"zz", method="POST")
print("urlopen post", json.load(urllib.request.urlopen(request))["key"] is not None)
try:
    urllib.request.urlopen(f"{base}/m?fail=9")
except urllib.error.HTTPError as e:
    print("HTTPError", e.code, json.loads(e.read())["path"])
time.sleep(0)
print("done")
"""

IDEMPOTENT = {"DURABLE_PYTHON_IDEMPOTENCY_KEYS": "1"}


def test_requests_are_sent_once_and_responses_replay(ih):
    ih.write("web.py", SCRIPT)
    first = ih.prefix()
    reference = ih.run("web.py", ih.server.url + first, env=IDEMPOTENT)
    assert reference.returncode == 0, reference
    expected = ih.server.counts_under(first, by_method=True)
    assert set(expected.values()) == {1} and len(expected) == 13, expected
    assert "raise_for_status 503" in reference.stdout and "HTTPError 503 " in reference.stdout
    assert reference.stdout.count(" True") == 9, reference.stdout
    reference_lines = reference.stdout.replace(first, "").splitlines()
    total = len(ih.entries())
    for kill_ats in ([2], [total // 2], [total - 2], [3, 9, 15]):
        ih.fresh()
        prefix = ih.prefix()
        series = ih.series("web.py", ih.server.url + prefix, kill_ats=kill_ats, env=IDEMPOTENT)
        assert series.crashes == len(kill_ats), series
        ih.assert_repeats_at_most(
            expected, ih.server.counts_under(prefix, by_method=True), series.crashes, series
        )
        lines = series.stdout.replace(prefix, "").splitlines()
        assert sorted(set(lines)) == sorted(reference_lines) and lines[-1] == "done", series


def test_a_request_in_flight_at_a_crash_is_sent_again_with_the_same_key(ih):
    prefix = ih.prefix()
    ih.write(
        "pay.py",
        """
        import sys, requests
        r = requests.post(sys.argv[1] + "/charge?sleep=3", json={"amount": 5})
        print("charged", r.json()["count"])
        """,
    )
    process = ih.start("run", "pay.py", ih.server.url + prefix, env=IDEMPOTENT)
    ih.server.wait_for(f"POST {prefix}/charge")
    process.kill()
    process.finish(timeout=30)
    again = ih.run("pay.py", ih.server.url + prefix, env=IDEMPOTENT)
    assert again.returncode == 0 and again.stdout == "charged 2\n", again
    keys = ih.server.keys[f"POST {prefix}/charge"]
    assert len(keys) == 2 and keys[0] is not None and keys[0] == keys[1], keys


def test_without_the_option_no_key_is_sent(ih):
    prefix = ih.prefix()
    ih.write("post.py", "import sys, requests\nrequests.post(sys.argv[1] + '/p')\n")
    done = ih.run("post.py", ih.server.url + prefix)
    assert done.returncode == 0, done
    assert ih.server.keys[f"POST {prefix}/p"] == [None]
    ih.write("pyproject.toml", "[tool.durable-python]\nidempotency_keys = true\n")
    done = ih.run("post.py", ih.server.url + prefix)
    assert done.returncode == 0, done
    assert ih.server.keys[f"POST {prefix}/p"][1] is not None
