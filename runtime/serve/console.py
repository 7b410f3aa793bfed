"""The web console of ``durable-python serve``: ``/`` and three static files (HTML, JavaScript,
CSS) shipped in the package, so that what ``pip install`` gives works offline with no front-end
build. The files hold no data and need no token; every API call the page makes carries it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response

CONSOLE = Path(__file__).parent / "console"

# The files the console is made of, and their media types: nothing else is served from here.
FILES = {
    "index.html": "text/html; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}

# Same-origin only: no inline script, nothing from elsewhere, and no framing (a page that framed
# the console could trick a click on "Cancel").
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidated, so an upgraded package's console is seen at once
}


def _file(name: str) -> Response:
    media_type = FILES.get(name)
    path = CONSOLE / name
    if media_type is None or not path.is_file():
        return Response(f"no console file {name!r}\n", 404, media_type="text/plain")
    return FileResponse(path, media_type=media_type, headers=HEADERS)


def add_console(app: FastAPI) -> None:
    """Serve the console at ``/`` and its files at ``/console/NAME`` (not in the OpenAPI
    document: they are a page, not the API)."""

    @app.get("/", include_in_schema=False)
    def console() -> Response:
        return _file("index.html")

    @app.get("/console/{name}", include_in_schema=False)
    def console_file(name: str) -> Response:
        return _file(name)
