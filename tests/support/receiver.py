"""A local HTTP receiver on a loopback port: records every request, answers as scripted.

Forward tests point hooks at it. Each path has a queue of scripted replies (status, headers,
body, delay); when the queue is empty the default reply is used. It also tracks how many
requests per path are in flight at once, to check concurrency limits.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.support.loopback import LoopbackServer


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b'{"ok":true}'
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay: float = 0.0  # seconds to wait before answering


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float  # time.monotonic() when it arrived


class Receiver(LoopbackServer):
    """`with Receiver() as r:` serves on `r.url` until the block ends."""

    def __init__(self) -> None:
        self.default = Reply()
        self._requests: list[Received] = []
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self._in_flight: dict[str, int] = defaultdict(int)
        self._max_in_flight: dict[str, int] = defaultdict(int)
        super().__init__()

    def script(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to `path` with `replies`, in order."""
        with self.lock:
            self._scripts[path].extend(replies)

    def requests(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self._requests if path is None or r.path == path]

    def max_in_flight(self, path: str) -> int:
        with self.lock:
            return self._max_in_flight[path]

    def _record(self, received: Received) -> Reply:
        with self.lock:
            self._requests.append(received)
            self._in_flight[received.path] += 1
            self._max_in_flight[received.path] = max(
                self._max_in_flight[received.path], self._in_flight[received.path]
            )
            script = self._scripts[received.path]
            return script.popleft() if script else self.default

    def _done(self, path: str) -> None:
        with self.lock:
            self._in_flight[path] -= 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                reply = receiver._record(
                    Received(
                        method=self.command,
                        path=parts.path,
                        query=parts.query,
                        headers={k.lower(): v for k, v in self.headers.items()},
                        body=body,
                        at=time.monotonic(),
                    )
                )
                try:
                    if reply.delay:
                        receiver.closing.wait(reply.delay)
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:  # the client went away (timeout, killed server)
                    self.close_connection = True
                finally:
                    receiver._done(parts.path)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: object) -> None:
                return None

        return Handler
