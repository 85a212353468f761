"""CPU per request of the ingress limits: the JSON depth check and the HTTP protocol's checks.

Not a test: it prints this thread's CPU time per call (so a busy machine skews it less than wall
time), the best of 7 repeats.

    .venv/bin/python bench/limits.py
"""

from __future__ import annotations

import asyncio
import time
import timeit
from collections.abc import Callable
from typing import Any

import uvicorn
from machine import describe
from payload import SHARED, github_signature, push_payload
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from octipus.api.http_protocol import ConnectionLimits, protocol_class
from octipus.ingress.payload import decode_body

FIXTURES = ("push", "issues.opened", "workflow_run.completed", "pull_request.opened")


def cpu_us(call: Callable[[], Any], number: int = 300) -> float:
    """Best of 7 repeats, in µs of this thread's CPU per call."""
    timer = timeit.Timer(call, timer=time.thread_time)
    return min(timer.repeat(number=number, repeat=7)) / number * 1e6


def depth_check() -> None:
    print("JSON depth check (OCTIPUS_MAX_JSON_DEPTH=64): decode_body without and with it")
    bodies = {"bench push (2 KB)": push_payload()}
    for name in FIXTURES:
        bodies[name] = (SHARED / "fixtures" / "github" / f"{name}.payload.json").read_bytes()
    for name, body in bodies.items():
        brackets = body.count(b"[") + body.count(b"{")
        plain = cpu_us(lambda body=body: decode_body(body, "application/json"))
        checked = cpu_us(lambda body=body: decode_body(body, "application/json", 64))
        print(
            f"  {name:24s} {len(body):6d} B {brackets:4d} brackets  "
            f"{plain:6.1f} -> {checked:6.1f} µs  (+{checked - plain:.1f})"
        )


class NullTransport(asyncio.Transport):
    def write(self, data: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name in ("peername", "sockname") else default


def signed_request() -> bytes:
    body = push_payload()
    head = [
        "POST /api/webhooks/bench HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        "X-GitHub-Event: push",
        "X-GitHub-Delivery: 5b2f6e1a-0c3e-11ef-8f4e-1f2d3c4b5a69",
        f"X-Hub-Signature-256: {github_signature(body)}",
        f"Content-Length: {len(body)}",
    ]
    return "\r\n".join(head).encode() + b"\r\n\r\n" + body


def protocol_cost() -> None:
    """One signed 2 KB request parsed on a kept-alive connection (the app is not run)."""
    request = signed_request()
    limits = ConnectionLimits(64 * 1024, 200, 10.0, 60.0, 1000)
    loop = asyncio.new_event_loop()
    config = uvicorn.Config(None, interface="asgi3")  # type: ignore[arg-type]
    config.load = lambda: None  # type: ignore[method-assign]
    config.loaded, config.loaded_app, config.ws_protocol_class = True, None, None
    print("HTTP protocol: one 2 KB request parsed on a kept-alive connection (app not run)")
    classes = {"uvicorn httptools": HttpToolsProtocol, "with limits": protocol_class(limits)}
    for name, cls in classes.items():
        proto = cls(config=config, server_state=ServerState(), app_state={}, _loop=loop)
        proto._start_asgi_task = lambda cycle, app: None  # type: ignore[method-assign]
        proto.connection_made(NullTransport())

        def one(proto: HttpToolsProtocol = proto) -> None:
            proto.data_received(request)
            proto.cycle.response_complete = True
            proto.on_response_complete()

        print(f"  {name:18s} {cpu_us(one, 3000):5.1f} µs")
    loop.close()


if __name__ == "__main__":
    print(describe())
    depth_check()
    protocol_cost()
