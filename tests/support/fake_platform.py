"""The shared part of the fake Telegram and Slack servers: a threaded loopback HTTP server
that records calls and lets a test script failures per API method."""

from __future__ import annotations

import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

from tests.support.loopback import LoopbackServer


@dataclass(frozen=True)
class Call:
    """One API call the fake received."""

    method: str
    payload: dict[str, Any]
    headers: dict[str, str]  # names lower-cased
    at: float  # time.monotonic() on arrival


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class FakePlatform(LoopbackServer):
    """`with FakeX() as fake:` serves on `fake.url`; subclasses implement `answer`."""

    def __init__(self) -> None:
        super().__init__()
        self._calls: list[Call] = []
        self._failures: dict[str, deque[Answer]] = defaultdict(deque)

    def calls(self, method: str | None = None) -> list[Call]:
        with self.lock:
            return [c for c in self._calls if method is None or c.method == method]

    def fail_next(self, method: str, answer: Answer, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with `answer` instead of success."""
        with self.lock:
            self._failures[method].extend([answer] * times)

    def answer(self, path: str, payload: dict[str, Any], headers: dict[str, str]) -> Answer:
        raise NotImplementedError

    def method_of(self, path: str) -> str:
        return path.rsplit("/", 1)[-1]

    def _dispatch(self, path: str, payload: dict[str, Any], headers: dict[str, str]) -> Answer:
        method = self.method_of(path)
        with self.lock:
            self._calls.append(Call(method, payload, headers, time.monotonic()))
            scripted = self._failures[method]
            if scripted:
                return scripted.popleft()
        return self.answer(path, payload, headers)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                payload = parse_payload(raw, headers.get("content-type", ""))
                answer = fake._dispatch(self.path.split("?", 1)[0], payload, headers)
                data = json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (a cancelled long poll)
                    self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                return None

        return Handler


def parse_payload(raw: bytes, content_type: str) -> dict[str, Any]:
    """Both platforms accept JSON or form-encoded parameters."""
    if not raw:
        return {}
    if content_type.startswith("application/json"):
        value = json.loads(raw)
        return value if isinstance(value, dict) else {}
    return dict(parse_qsl(raw.decode()))
