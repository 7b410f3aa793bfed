"""Index a batch of documents through an HTTP API with asyncio, eight requests at a time.

    python scripts/examples/doc_api.py --port 8765 &
    durable-python run scripts/examples/index_documents_async.py http://127.0.0.1:8765 10000

The asyncio twin of index_documents.py (same documents, same output), written the way anyone
writes it: a semaphore caps the requests in flight, ``asyncio.gather`` runs a chunk of documents,
a progress line follows each chunk. urllib blocks, so each request runs in a worker thread
(``asyncio.to_thread``); with an async HTTP client it would be awaited directly. Kill it half way
and run the same command again: it resumes where it stopped.
"""

import argparse
import asyncio
import json
import time
import urllib.error
import urllib.request

WORDS = (
    "durable replay journal thread pool crash resume index document search token term vector"
    " shard segment commit batch worker queue retry"
).split()
CHUNK = 1000


def make_document(number):
    """The document numbered ``number``: some text built from the number (now and then none)."""
    if number % 250 == 249:
        text = ""  # the API rejects empty documents
    else:
        text = " ".join(WORDS[(number * 7 + i * i) % len(WORDS)] for i in range(4 + number % 13))
    return {"id": f"doc-{number:05d}", "title": f"Document {number}", "text": text}


def put_document(base_url, document):
    request = urllib.request.Request(
        f"{base_url}/documents/{document['id']}",
        data=json.dumps(document).encode(),
        headers={"Content-Type": "application/json"},
        method="PUT",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


async def index_document(base_url, document):
    """Send one document to the API; its answer (``{"id", "terms", "tokens"}``) as a dict."""
    return await asyncio.to_thread(put_document, base_url, document)


async def index_all(base_url, documents, concurrency):
    limit = asyncio.Semaphore(concurrency)

    async def index_one(document):
        async with limit:
            try:
                return await index_document(base_url, document), None
            except urllib.error.HTTPError as exc:
                return None, f"{document['id']} ({exc.code})"

    indexed, terms, tokens, rejected = 0, 0, 0, []
    for start in range(0, len(documents), CHUNK):
        chunk = documents[start : start + CHUNK]
        for reply, error in await asyncio.gather(*(index_one(doc) for doc in chunk)):
            if error:
                rejected.append(error)
            else:
                indexed += 1
                terms += reply["terms"]
                tokens += reply["tokens"]
        print(f"progress: {start + len(chunk)}/{len(documents)} documents")
    return indexed, terms, tokens, rejected


def main():
    parser = argparse.ArgumentParser(description="Index documents through an HTTP API.")
    parser.add_argument("base_url", help="the API, e.g. http://127.0.0.1:8765")
    parser.add_argument("count", type=int, help="how many documents to index")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    documents = [make_document(number) for number in range(args.count)]
    print(f"indexing {len(documents)} documents, {args.concurrency} at a time")
    started = time.perf_counter()
    indexed, terms, tokens, rejected = asyncio.run(
        index_all(args.base_url, documents, args.concurrency)
    )
    print(f"indexed: {indexed}")
    print(f"rejected: {len(rejected)}: {', '.join(sorted(rejected)) or '-'}")
    print(f"terms: {terms}, tokens: {tokens}")
    print(f"done in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
