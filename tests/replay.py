"""A loopback HTTP server that replays programmed responses, for network tests.

A real :class:`http.server.ThreadingHTTPServer` listens on 127.0.0.1 on a
random port in a background thread.  Tests register a handler per path; the
handler gets the parsed request (:class:`Hit`) and returns a :class:`Reply`,
which can also misbehave on purpose: answer slowly (timeouts) or drop the
connection half-way through the body.  Every request is recorded in
``server.hits`` so tests can count what was asked.  ``multipart/form-data``
POSTs (batch geocoder uploads) go to ``server.post_routes``, whose handlers get
the parsed form (field name -> bytes); the forms are kept in ``server.forms``.
Nothing leaves the host.

The pytest fixtures the connector tests share are defined here too; a test
module imports the ones it uses (``from replay import server_fixture``) and
names them in its tests by their fixture names (``server``, ``sleeps``,
``client``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from geo311.connectors._client import HttpClient


@dataclass(frozen=True)
class Hit:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Reply:
    """A programmed response.

    ``body`` may be bytes, str, or any JSON-serialisable object.  ``delay``
    sleeps before answering; ``drop_after`` announces the full length but sends
    only that many body bytes, then closes the connection.
    """

    body: Any = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    delay: float = 0.0
    drop_after: int | None = None

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


Handler = Callable[[Hit], Reply]
FormHandler = Callable[[dict[str, bytes]], Reply]


class ReplayServer:
    """Programmable routes on a loopback server; use :func:`serve` to run one."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.post_routes: dict[str, FormHandler] = {}
        self.hits: list[Hit] = []
        self.forms: list[dict[str, bytes]] = []
        self._lock = threading.Lock()
        self.url = ""

    def route(self, path: str, handler: Handler | Reply | list[Reply]) -> None:
        """Answer ``path`` with a handler, a fixed reply, or a queue of replies.

        A queue is consumed in order; its last reply repeats.
        """
        if isinstance(handler, Reply):
            fixed = handler
            self.routes[path] = lambda _hit: fixed
        elif isinstance(handler, list):
            queue = list(handler)

            def next_reply(_hit: Hit) -> Reply:
                with self._lock:
                    return queue.pop(0) if len(queue) > 1 else queue[0]

            self.routes[path] = next_reply
        else:
            self.routes[path] = handler

    def hits_for(self, path: str) -> list[Hit]:
        """Return the requests received for ``path``."""
        return [h for h in self.hits if h.path == path]

    def _handle(self, hit: Hit) -> Reply:
        with self._lock:
            self.hits.append(hit)
        handler = self.routes.get(hit.path)
        if handler is None:
            return Reply({"error": f"no route for {hit.path}"}, status=404)
        return handler(hit)


def _request_handler(server: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            hit = Hit(
                "GET",
                parts.path,
                dict(parse_qsl(parts.query, keep_blank_values=True)),
                {k.lower(): v for k, v in self.headers.items()},
            )
            self._answer(server._handle(hit))

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            content_type = self.headers.get("Content-Type", "")
            message = BytesParser(policy=HTTP).parsebytes(
                f"Content-Type: {content_type}\r\n\r\n".encode() + raw
            )
            form = {
                part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
                for part in message.iter_parts()
            }
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            with server._lock:
                server.hits.append(Hit("POST", parts.path, {}, headers))
                server.forms.append(form)
            handler = server.post_routes.get(parts.path)
            self._answer(handler(form) if handler else Reply({"error": "no route"}, status=404))

        def _answer(self, reply: Reply) -> None:
            if reply.delay:
                time.sleep(reply.delay)
            body = reply.payload()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                if reply.drop_after is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                if reply.drop_after is not None:
                    self.wfile.write(body[: reply.drop_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet."""

    return RequestHandler


@contextmanager
def serve() -> Iterator[ReplayServer]:
    """Run a :class:`ReplayServer` on 127.0.0.1 (random port) for the duration of a block."""
    replay = ReplayServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _request_handler(replay))
    httpd.daemon_threads = True
    httpd.block_on_close = False
    host, port = httpd.server_address[:2]
    replay.url = f"http://{host}:{port}"
    thread = threading.Thread(
        target=httpd.serve_forever, args=(0.02,), name="replay-server", daemon=True
    )
    thread.start()
    try:
        yield replay
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(name="server")
def server_fixture() -> Iterator[ReplayServer]:
    """A replay server for one test."""
    with serve() as replay:
        yield replay


@pytest.fixture(name="sleeps")
def sleeps_fixture() -> list[float]:
    """The waits the ``client`` fixture was asked for, in seconds (it never sleeps)."""
    return []


@pytest.fixture(name="client")
def client_fixture(sleeps: list[float], tmp_path: Path) -> Iterator[HttpClient]:
    """A client with 3 retries that records its waits in ``sleeps`` instead of sleeping."""
    with HttpClient(
        timeout=2, retries=3, sleep=sleeps.append, cache_path=tmp_path / "http-cache"
    ) as http:
        yield http


@pytest.fixture(name="isolated_cache")
def isolated_cache_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point ``GEO311_CACHE_DIR`` at the test's own folder."""
    monkeypatch.setenv("GEO311_CACHE_DIR", str(tmp_path / "cache"))
