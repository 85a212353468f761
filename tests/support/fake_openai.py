"""A local fake OpenAI-compatible server: real `/v1/chat/completions` wire format, scriptable.

Agent tests point `OCTIPUS_AGENT_BASE_URL` at `fake.url`. Each request is recorded (headers and
JSON body) and answered with the next scripted step: a text answer, tool calls, an HTTP error,
each optionally delayed. With nothing scripted it answers `DEFAULT_ANSWER`. Usage figures are
derived from the request and answer sizes, so tests can check that usage was recorded.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.loopback import LoopbackServer

DEFAULT_ANSWER = "fake answer"


@dataclass(frozen=True)
class Step:
    """One scripted answer: text, tool calls, or an HTTP error status, after `delay` seconds."""

    text: str | None = None
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    status: int = 200
    delay: float = 0.0


def answer(text: str, delay: float = 0.0) -> Step:
    return Step(text=text, delay=delay)


def call_tool(name: str, arguments: dict[str, Any]) -> Step:
    """The model asks to call tool `name` with `arguments`."""
    return Step(tool_calls=((name, arguments),))


def fail(status: int = 500) -> Step:
    return Step(status=status)


def slow(seconds: float, text: str = DEFAULT_ANSWER) -> Step:
    return Step(text=text, delay=seconds)


@dataclass(frozen=True)
class ChatRequest:
    path: str
    headers: dict[str, str]  # names lower-cased
    body: dict[str, Any]
    at: float = field(default_factory=time.monotonic)

    @property
    def user_text(self) -> str:
        """Every user message's text, joined."""
        texts = []
        for message in self.body.get("messages", []):
            if message.get("role") != "user":
                continue
            content = message.get("content")
            if isinstance(content, str):
                texts.append(content)
            elif isinstance(content, list):
                texts += [p.get("text", "") for p in content if isinstance(p, dict)]
        return "\n".join(texts)

    @property
    def tool_names(self) -> list[str]:
        return [tool["function"]["name"] for tool in self.body.get("tools", [])]

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        return [m for m in self.body.get("messages", []) if m.get("role") == "tool"]


def _usage(request: dict[str, Any], text: str) -> dict[str, int]:
    prompt_tokens = max(1, len(json.dumps(request.get("messages", []))) // 4)
    completion_tokens = max(1, len(text) // 4)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


class FakeOpenAI(LoopbackServer):
    """`with FakeOpenAI() as fake:` serves the Chat Completions API on `fake.url` (…/v1)."""

    def __init__(self) -> None:
        self._requests: list[ChatRequest] = []
        self._script: deque[Step] = deque()
        self._ids = itertools.count(1)
        super().__init__()

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1"

    def script(self, *steps: Step) -> None:
        """Answer the next requests with `steps`, in order."""
        with self.lock:
            self._script.extend(steps)

    def requests(self) -> list[ChatRequest]:
        with self.lock:
            return list(self._requests)

    def _next(self, request: ChatRequest) -> Step:
        with self.lock:
            self._requests.append(request)
            return self._script.popleft() if self._script else answer(DEFAULT_ANSWER)

    def completion(self, request: dict[str, Any], step: Step) -> dict[str, Any]:
        """A `chat.completion` object as OpenAI sends it."""
        message: dict[str, Any] = {"role": "assistant", "content": step.text, "refusal": None}
        finish = "stop"
        if step.tool_calls:
            finish = "tool_calls"
            message["tool_calls"] = [
                {
                    "id": f"call_{next(self._ids)}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(arguments)},
                }
                for name, arguments in step.tool_calls
            ]
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", "fake-model"),
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
            ],
            "usage": _usage(request, step.text or json.dumps(step.tool_calls)),
            "system_fingerprint": "fp_fake",
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                headers = {k.lower(): v for k, v in self.headers.items()}
                if not self.path.endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                body = json.loads(raw)
                step = fake._next(ChatRequest(self.path, headers, body))
                if step.delay:
                    fake.closing.wait(step.delay)
                if body.get("stream"):
                    self._send(400, _error("streaming is not supported by this fake", 400))
                elif step.status != 200:
                    self._send(step.status, _error("scripted failure", step.status))
                else:
                    self._send(200, fake.completion(body, step))

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout) before the answer
                    pass

            def log_message(self, *_: Any) -> None:
                pass

        return Handler


def _error(message: str, status: int) -> dict[str, Any]:
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}
