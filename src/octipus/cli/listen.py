"""`octipus listen --path P --forward-to URL`: your hooks' deliveries, replayed to a local URL.

It reads the server's Server-Sent Events (`GET /api/deliveries/stream`, api/deliveries.py) over
the ordinary API, so it works through any HTTPS reverse proxy. Each delivery is sent on to the
local URL with its original method, headers and raw body, so the provider's signature verifies
there too. The stream resumes after the last delivery seen (also across runs with `--state`),
so deliveries stored while the laptop slept arrive, in order, when it wakes.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import typer
from httpx_sse import SSEError, connect_sse

from octipus.cli.client import JSON_OPTION, TOKEN_OPTION, URL_OPTION, api_token, server_url

STREAM = "/api/deliveries/stream"
FROM_START = "0" * 32  # `after` this id: every retained delivery
REMEMBERED = 2000  # ids kept to skip the deliveries a resumed stream sends again
# Not forwarded: they describe the connection to the server, not the delivery.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "host",
        "content-length",
        "expect",
    }
)
BACKOFF_SECONDS = (1, 2, 5, 10)
EXIT_REFUSED, EXIT_UNAUTHORIZED, EXIT_UNREACHABLE = 1, 3, 4


@dataclass
class Cursor:
    """The last delivery id seen and the recent ones (a resumed stream may repeat a few)."""

    state: Path | None = None
    last: str | None = None
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=REMEMBERED))

    @classmethod
    def load(cls, state: Path | None) -> Cursor:
        cursor = cls(state)
        if state is not None and state.exists():
            saved = json.loads(state.read_text())
            cursor.last = saved.get("last")
            cursor.recent.extend(saved.get("recent", []))
        return cursor

    def seen(self, delivery: str) -> bool:
        return delivery in self.recent

    def mark(self, delivery: str) -> None:
        """Remember `delivery` as handled (and write the state file)."""
        self.recent.append(delivery)
        self.move_to(max(self.last or delivery, delivery))

    def move_to(self, last: str) -> None:
        """Resume after `last` from now on; the state file is replaced atomically."""
        self.last = last
        if self.state is not None:
            temporary = self.state.with_name(f".{self.state.name}.new")
            temporary.write_text(json.dumps({"last": self.last, "recent": list(self.recent)}))
            os.replace(temporary, self.state)


class Stop(Exception):
    """The server refused the stream for a reason retrying will not fix."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def forward_headers(headers: dict[str, str]) -> dict[str, str]:
    """The delivery's headers minus those of the connection it came on."""
    return {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}


def replay(local: httpx.Client, forward_to: str, event: dict[str, Any]) -> dict[str, Any]:
    """Send one delivery to `forward_to` as it arrived; what the local server answered."""
    started = time.monotonic()
    try:
        response = local.request(
            event["method"],
            forward_to,
            params=event["query"] or None,
            headers=forward_headers(event["headers"]),
            content=base64.b64decode(event["body"]),
        )
        outcome: dict[str, Any] = {"status": response.status_code, "error": None}
    except httpx.HTTPError as exc:
        outcome = {"status": None, "error": f"{type(exc).__name__}: {exc}"}
    outcome["ms"] = round((time.monotonic() - started) * 1000)
    return outcome


def report_line(event: dict[str, Any], outcome: dict[str, Any], as_json: bool) -> str:
    """One line per delivery: when, event, delivery id, local status and time."""
    notes = []
    if event.get("bodyPruned"):
        notes.append("body pruned by retention")
    if event.get("headersWithheld"):
        notes.append(f"signature headers withheld: {event['headersWithheld']}")
    if as_json:
        keys = ("id", "deliveryId", "event", "receivedAt")
        return json.dumps({**{k: event.get(k) for k in keys}, **outcome, "notes": notes})
    local = outcome["error"] or f"{outcome['status']}"
    line = (
        f"{event['receivedAt'][:19]}Z  {event.get('event') or '-'}  "
        f"{event.get('deliveryId') or event['id']}  -> {local}  {outcome['ms']} ms"
    )
    return "  ".join([line, *(f"({n})" for n in notes)])


def _refusal(response: httpx.Response) -> Stop:
    """Why the server refused the stream, as one line."""
    response.read()
    try:
        message = response.json().get("error", response.text)
    except ValueError:
        message = response.text[:200]
    code = EXIT_UNAUTHORIZED if response.status_code in (401, 403) else EXIT_REFUSED
    return Stop(f"error {response.status_code}: {message}", code)


def _params(path: str, from_start: bool, since: datetime | None) -> dict[str, str]:
    """Where the first stream starts when no delivery was seen yet (else: after the last)."""
    params = {"path": path}
    if from_start:
        params["after"] = FROM_START
    elif since is not None:
        params["since"] = since.astimezone().isoformat()  # a time without offset is local
    return params


@dataclass
class Listener:
    """Streams from the server and replays each new delivery to `forward_to`."""

    server: httpx.Client
    local: httpx.Client
    forward_to: str
    cursor: Cursor
    as_json: bool
    connected: bool = False

    def run(self, params: dict[str, str]) -> None:
        """Stream until Ctrl-C or a refusal (Stop); reconnect with backoff when the connection
        drops after it once worked (before that, the server is unreachable: exit)."""
        failures = 0
        while True:
            try:
                self.stream_once(params)
                failures = 0
            except (httpx.TransportError, SSEError) as exc:
                if not self.connected:
                    message = f"cannot reach {self.server.base_url}: {exc}"
                    raise Stop(message, EXIT_UNREACHABLE) from None
                wait = BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)]
                failures += 1
                typer.secho(f"connection lost ({exc}); retrying in {wait} s", err=True)
                time.sleep(wait)

    def stream_once(self, params: dict[str, str]) -> None:
        """One stream, until the server ends it or the connection drops."""
        if self.cursor.last:
            params = {**params, "after": self.cursor.last}
        with connect_sse(self.server, "GET", STREAM, params=params) as source:
            response = source.response
            if response.status_code >= 500:
                raise httpx.RemoteProtocolError(f"server answered {response.status_code}")
            if response.status_code != 200:
                raise _refusal(response)
            if not self.connected:
                typer.echo(
                    f"Listening on '{params['path']}', forwarding to {self.forward_to}"
                    " (Ctrl-C ends)"
                )
                self.connected = True
            for sse in source.iter_sse():
                if sse.event == "delivery":
                    self.handle(sse.json())
                elif sse.event == "ready" and not self.cursor.last:
                    self.cursor.move_to(sse.id)  # where a reconnection resumes

    def handle(self, event: dict[str, Any]) -> None:
        """Replay one delivery unless it was seen already, and print its line."""
        if self.cursor.seen(event["id"]):
            return
        outcome = replay(self.local, self.forward_to, event)
        typer.echo(report_line(event, outcome, self.as_json))
        self.cursor.mark(event["id"])


def listen(
    path: str = typer.Option(..., "--path", help="Your hooks' webhook path, e.g. github"),
    forward_to: str = typer.Option(
        ..., "--forward-to", help="Local URL each delivery is sent to, e.g. http://localhost:8000/"
    ),
    state: Path | None = typer.Option(
        None, "--state", help="File keeping the last delivery seen, to resume from in a later run"
    ),
    from_start: bool = typer.Option(
        False, "--from-start", help="Start with the oldest delivery the server retained"
    ),
    since: datetime | None = typer.Option(
        None, "--since", help="Start with deliveries received from this time on (ISO 8601)"
    ),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    json_lines: bool = JSON_OPTION,
) -> None:
    """Stream the deliveries your hooks on PATH accept and replay each to a local URL."""
    if not forward_to.startswith(("http://", "https://")):
        raise typer.BadParameter("must be an http:// or https:// URL", param_hint="--forward-to")
    base = server_url(url)
    cursor = Cursor.load(state)
    params = _params(path.strip("/"), from_start, since)
    timeout = httpx.Timeout(10.0, read=45.0)  # the server sends a comment every 15 s
    headers = {"Authorization": f"Bearer {api_token(token)}"}
    with (
        httpx.Client(base_url=base, headers=headers, timeout=timeout) as server,
        httpx.Client(timeout=30.0) as local,
    ):
        try:
            Listener(server, local, forward_to, cursor, json_lines).run(params)
        except Stop as stop:
            typer.secho(str(stop), err=True, fg="red")
            raise typer.Exit(stop.code) from None
        except KeyboardInterrupt:
            typer.echo("stopped")


def register(app: typer.Typer) -> None:
    app.command("listen")(listen)
