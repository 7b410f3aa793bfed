"""Index a batch of documents through an HTTP API, eight requests at a time.

    python scripts/examples/doc_api.py --port 8765 &
    durable-python run scripts/examples/index_documents.py http://127.0.0.1:8765 10000

A plain script, written the way anyone writes it with no durability in mind. Kill it half way
(Ctrl-C, kill -9, a reboot) and run the same command again: documents already indexed are not
sent again, the eight that were in flight are sent once more, and the progress lines and the
summary come out as if it had never stopped. See index_documents_async.py for asyncio.
"""

import argparse
import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed

WORDS = (
    "durable replay journal thread pool crash resume index document search token term vector"
    " shard segment commit batch worker queue retry"
).split()


def make_document(number):
    """The document numbered ``number``: some text built from the number (now and then none)."""
    if number % 250 == 249:
        text = ""  # the API rejects empty documents
    else:
        text = " ".join(WORDS[(number * 7 + i * i) % len(WORDS)] for i in range(4 + number % 13))
    return {"id": f"doc-{number:05d}", "title": f"Document {number}", "text": text}


def index_document(base_url, document):
    """Send one document to the API; its answer (``{"id", "terms", "tokens"}``) as a dict."""
    request = urllib.request.Request(
        f"{base_url}/documents/{document['id']}",
        data=json.dumps(document).encode(),
        headers={"Content-Type": "application/json"},
        method="PUT",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def main():
    parser = argparse.ArgumentParser(description="Index documents through an HTTP API.")
    parser.add_argument("base_url", help="the API, e.g. http://127.0.0.1:8765")
    parser.add_argument("count", type=int, help="how many documents to index")
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()

    documents = [make_document(number) for number in range(args.count)]
    print(f"indexing {len(documents)} documents, {args.workers} at a time")
    started = time.perf_counter()
    indexed, terms, tokens, rejected = 0, 0, 0, []
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        futures = {pool.submit(index_document, args.base_url, doc): doc for doc in documents}
        for done, future in enumerate(as_completed(futures), start=1):
            document = futures[future]
            try:
                reply = future.result()
            except urllib.error.HTTPError as exc:
                rejected.append(f"{document['id']} ({exc.code})")
            else:
                indexed += 1
                terms += reply["terms"]
                tokens += reply["tokens"]
            if done % 1000 == 0 or done == len(documents):
                print(f"progress: {done}/{len(documents)} documents")

    print(f"indexed: {indexed}")
    print(f"rejected: {len(rejected)}: {', '.join(sorted(rejected)) or '-'}")
    print(f"terms: {terms}, tokens: {tokens}")
    print(f"done in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
