"""A client of GET /api/executions/stream that reads in the background, like a browser's."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, connect_sse

from tests.support.server import ServerProcess
from tests.support.waiting import wait_until

PATH = "/api/executions/stream"


class ExecutionStream:
    """Collects the stream's events in a thread; when the server ends the stream, reconnects
    with Last-Event-ID, as EventSource does. Use as a context manager."""

    def __init__(
        self,
        server: ServerProcess,
        token: str | None = None,
        params: dict[str, str] | None = None,
        last_event_id: str | None = None,
    ):
        self._client = httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {token or server.token}"},
            timeout=httpx.Timeout(10, read=60),
        )
        self._params = params or {}
        self.last_event_id = last_event_id
        self.events: list[ServerSentEvent] = []
        self.connections = 0
        self.refusal: httpx.Response | None = None
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> ExecutionStream:
        self._thread.start()
        wait_until(self._connected.is_set, what="the stream to open")
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._client.close()
        self._thread.join(10)

    def _read(self) -> None:
        while not self._stop.is_set():
            headers = {"Last-Event-ID": self.last_event_id} if self.last_event_id else {}
            try:
                with connect_sse(
                    self._client, "GET", PATH, params=self._params, headers=headers
                ) as source:
                    if source.response.status_code != 200:
                        source.response.read()
                        self.refusal = source.response
                        self._connected.set()
                        return
                    self.connections += 1
                    self._connected.set()
                    for event in source.iter_sse():
                        if event.id:
                            self.last_event_id = event.id
                        self.events.append(event)
            except (httpx.HTTPError, RuntimeError):  # closed by __exit__, or the server stopped
                self._stop.wait(0.2)  # then try again, as EventSource does

    def changes(self) -> list[dict[str, Any]]:
        """Every change received, as (event name added under `kind`) dicts."""
        return [{"kind": e.event, **json.loads(e.data)} for e in list(self.events) if e.data]

    def wait_for(self, what: str, **fields: Any) -> dict[str, Any]:
        """The first change whose fields equal `fields`, waiting for it."""

        def found() -> dict[str, Any] | None:
            return next(
                (c for c in self.changes() if all(c.get(k) == v for k, v in fields.items())),
                None,
            )

        return wait_until(found, what=what)

    def wait_for_connections(self, count: int) -> None:
        """Until the stream has been opened `count` times (the server ended the others)."""
        wait_until(lambda: self.connections >= count, what=f"connection {count} of the stream")
