"""The forward target of the drain and scale benchmarks: an ASGI app that reads the body and
answers 200, after $BENCH_RECEIVER_DELAY_MS milliseconds (0: at once).

Run by bench/drain.py and bench/scale.py as `uvicorn receiver:app` (uvloop, httptools) on
127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os

from starlette.types import Receive, Scope, Send

DELAY = float(os.environ.get("BENCH_RECEIVER_DELAY_MS", "0")) / 1000


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    if DELAY:
        await asyncio.sleep(DELAY)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")],
        }
    )
    await send({"type": "http.response.body", "body": b"{}"})
