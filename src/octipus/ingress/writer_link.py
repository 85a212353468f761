"""A serving process's link to the ingress writer process (ingress/writer_process.py).

It sends each batch (BatchRows) over the writer's Unix socket (ingress/writer_protocol.py) and
waits for the answer, which comes once the batch is committed and the WAL synced. Answers come in
the order the batches were sent. The writer's timings become this process's ingress metrics.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from collections import deque
from pathlib import Path
from typing import Any

from octipus.ingress.encoded import BatchRows
from octipus.ingress.writer_protocol import CONFLICT, STORED, frame, unframe
from octipus.metrics import INGRESS_COMMIT_SECONDS, INGRESS_SYNC_SECONDS, INGRESS_TRANSACTION


class WriterUnavailable(Exception):
    """The writer process could not be reached, or went away before answering."""


class WriterFailed(Exception):
    """The writer process could not store the batch (its error says why)."""


class WriterLink:
    """Sends batches to the writer process at `path` and waits for their answers; one loop."""

    def __init__(self, path: Path):
        self._path = str(path)
        self._sock: socket.socket | None = None
        self._received = bytearray()
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._sending = asyncio.Lock()

    async def write(self, batch: BatchRows) -> list[list[str]]:
        """Store `batch` durably; per delivery, the hooks that fired.

        Raises sqlite3.IntegrityError when a row breaks a constraint, WriterFailed when the
        writer could not store it otherwise, WriterUnavailable when it is not there.
        """
        message = frame(batch.as_message())
        loop = asyncio.get_running_loop()
        async with self._sending:  # one message at a time, answered in the order sent
            sock = self._sock or await self._connect()
            answer: asyncio.Future[Any] = loop.create_future()
            self._waiting.append(answer)
            try:
                await loop.sock_sendall(sock, message)
            except OSError as exc:
                self._lost(f"sending to the ingress writer failed: {exc}")
        outcome, detail, *took = await answer
        if outcome == STORED:
            _observe(*took)
            return list(detail)
        if outcome == CONFLICT:
            raise sqlite3.IntegrityError(detail)
        raise WriterFailed(detail)

    def close(self) -> None:
        """Disconnect; batches still waiting fail with WriterUnavailable."""
        self._lost("the ingress writer link was closed")

    async def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, self._path)
        except OSError as exc:
            sock.close()
            raise WriterUnavailable(f"the ingress writer is not reachable: {exc}") from exc
        asyncio.get_running_loop().add_reader(sock.fileno(), self._on_readable)
        self._sock = sock
        return sock

    def _on_readable(self) -> None:
        assert self._sock is not None
        try:
            data = self._sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError as exc:
            self._lost(f"the ingress writer connection failed: {exc}")
            return
        if not data:
            self._lost("the ingress writer went away before answering")
            return
        self._received += data
        for answer in unframe(self._received):
            done = self._waiting.popleft()
            if not done.done():
                done.set_result(answer)

    def _lost(self, why: str) -> None:
        """Drop the connection (the next write connects again) and fail what waits on it."""
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        self._received.clear()
        while self._waiting:
            done = self._waiting.popleft()
            if not done.done():
                done.set_exception(WriterUnavailable(why))


def _observe(transaction: tuple[int, float], synced: float | None = None) -> None:
    """The metrics of the writer's transaction that held a batch (and of its WAL sync)."""
    deliveries, seconds = transaction
    INGRESS_TRANSACTION.observe(deliveries)
    INGRESS_COMMIT_SECONDS.observe(seconds)
    if synced is not None:
        INGRESS_SYNC_SECONDS.observe(synced)
