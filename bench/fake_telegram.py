"""The drain benchmark's notify target: Telegram's Bot API `sendMessage`, answered at once.

Run by bench/drain.py as `uvicorn fake_telegram:app` (uvloop, httptools) on 127.0.0.1, with
OCTIPUS_TELEGRAM_API_URL pointing at it. `POST /bot<token>/sendMessage` with a JSON body
answers like Telegram: `{"ok": true, "result": <Message>}`, or `{"ok": false, ...}` with 400
when `chat_id` or `text` is missing. tests/support/fake_telegram.py is the full fake for tests.
"""

from __future__ import annotations

import itertools
import time

import orjson
from starlette.types import Receive, Scope, Send

TOKEN = "424242:bench-fake-bot-token"
_message_ids = itertools.count(1)


async def _body(receive: Receive) -> bytes:
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def _answer(path: str, body: bytes) -> tuple[int, dict[str, object]]:
    if path != f"/bot{TOKEN}/sendMessage":
        return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
    try:
        params = orjson.loads(body)
    except orjson.JSONDecodeError:
        params = {}
    if not isinstance(params, dict) or not params.get("chat_id") or not params.get("text"):
        return 400, {"ok": False, "error_code": 400, "description": "Bad Request: text is empty"}
    message = {
        "message_id": next(_message_ids),
        "from": {"id": 424242, "is_bot": True, "first_name": "Octipus bench"},
        "chat": {"id": params["chat_id"], "type": "private"},
        "date": int(time.time()),
        "text": params["text"],
    }
    return 200, {"ok": True, "result": message}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    status, answer = _answer(scope["path"], await _body(receive))
    body = orjson.dumps(answer)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
