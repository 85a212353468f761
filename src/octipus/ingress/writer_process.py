"""The ingress writer process: it stores every serving process's batches of deliveries.

`python -m octipus.ingress.writer_process DATABASE SOCKET SYNC`, started and kept running by the
main serving process (serving/writer.py). Serving processes send it batches already encoded
(ingress/writer_link.py). Each round it takes every batch that has arrived, from every
connection, writes them all in one transaction, fdatasyncs the WAL once (SYNC "full"; "normal"
skips it), and only then answers each batch. A batch is answered only after the transaction that
holds it is committed and synced, so a 2xx still means "stored durably".

One process doing every ingress write, with SQLite's lock to itself most of the time, makes
larger transactions than serving processes taking turns, and leaves their event loops to HTTP
(bench/README.md, "The ingress writer process"). It waits for SQLite's write lock in SQLite's
busy handler (a worker's or an API transaction), which blocks no event loop here.

When a merged transaction breaks a constraint, each batch is retried in a transaction of its own,
so one sender's bad row never fails another's batch. On SIGTERM (from the serving process that
started it, after its batches are answered; from a service manager stopping everything; or on
that process's death) it goes on serving until every sender has disconnected, for up to
STOP_GRACE_SECONDS, so that what the serving processes drain on their way out is still stored.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import selectors
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import Sequence
from typing import Any

from octipus.db.connectors.sqlite import qmark
from octipus.ingress.encoded import BatchEncoder, BatchRows, insert, merged
from octipus.ingress.writer_protocol import CONFLICT, FAILED, STORED, frame, unframe

PR_SET_PDEATHSIG = 1
BUSY_TIMEOUT_MS = 30_000
STOP_GRACE_SECONDS = 60.0
SEND_TIMEOUT_SECONDS = 5.0
Received = tuple[socket.socket, BatchRows]
Answer = tuple[Any, ...]  # (STORED, fired, (deliveries, seconds)[, sync seconds]) or (error, why)


class WriterProcess:
    """Stores the batches that arrive on `listener`'s connections in the SQLite file `database`."""

    def __init__(self, database: str, listener: socket.socket, sync: bool):
        self._database = database
        self._sync = sync
        self._db = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self._encoder = BatchEncoder()
        self._listener = listener
        self._selector = selectors.DefaultSelector()
        self._selector.register(listener, selectors.EVENT_READ)
        self._buffers: dict[socket.socket, bytearray] = {}
        self._stop_by: float | None = None
        self._woken, wake = socket.socketpair()
        for end in (self._woken, wake):
            end.setblocking(False)
        self._selector.register(self._woken, selectors.EVENT_READ)
        self.wake = wake  # a byte written here ends the wait in select() at once

    def stop(self, *_: object) -> None:
        """Stop once every sender has disconnected (or after STOP_GRACE_SECONDS)."""
        if self._stop_by is None:
            self._stop_by = time.monotonic() + STOP_GRACE_SECONDS

    def serve(self) -> None:
        """Rounds until stopped: every batch that has arrived, stored and answered."""
        while self._stop_by is None or (self._buffers and time.monotonic() < self._stop_by):
            received = self._receive()
            if received:
                self._answer(self._store(received))

    def _receive(self) -> list[Received]:
        """Wait for the next messages (or a new connection); every complete batch so far."""
        received: list[Received] = []
        with contextlib.suppress(InterruptedError):
            events = self._selector.select(timeout=1.0)
            for key, _ in events:
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._listener:
                    self._accept()
                elif sock is self._woken:
                    with contextlib.suppress(BlockingIOError):
                        sock.recv(4096)
                else:
                    received += [
                        (sock, self._encoder.encode(BatchRows.from_message(m)))
                        for m in self._read(sock)
                    ]
        return received

    def _accept(self) -> None:
        with contextlib.suppress(BlockingIOError):
            sock, _ = self._listener.accept()
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ)
            self._buffers[sock] = bytearray()

    def _read(self, sock: socket.socket) -> list[Any]:
        """Everything `sock` has sent so far, as complete messages; it is closed at its end."""
        buffer = self._buffers[sock]
        while True:
            try:
                data = sock.recv(1 << 20)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                self._forget(sock)
                return []  # a sender that went away waits for no answer
            buffer += data
        return unframe(buffer)

    def _forget(self, sock: socket.socket) -> None:
        self._selector.unregister(sock)
        del self._buffers[sock]
        sock.close()

    def _store(self, received: list[Received]) -> list[tuple[socket.socket, Answer]]:
        """Each batch's answer: one transaction for all, or (on a conflict) one each."""
        answers = self._transact([batch for _, batch in received])
        if answers is None:
            answers = [self._alone(batch) for _, batch in received]
        if self._sync and any(answer[0] == STORED for answer in answers):
            started = time.perf_counter()
            self._sync_wal()
            synced = time.perf_counter() - started
            answers = [(*a[:3], synced) if a[0] == STORED else a for a in answers]
        return [(sock, answer) for (sock, _), answer in zip(received, answers, strict=True)]

    def _alone(self, batch: BatchRows) -> Answer:
        answer = self._transact([batch])
        return answer[0] if answer is not None else (CONFLICT, "a row breaks a constraint")

    def _transact(self, batches: Sequence[BatchRows]) -> list[Answer] | None:
        """Store `batches` in one transaction: each one's answer (STORED, the hooks that fired
        per delivery, the transaction's deliveries and seconds); None on a constraint error."""
        db = self._db
        started = time.perf_counter()
        try:
            db.execute("BEGIN IMMEDIATE")
            batch = merged(batches)
            fired = insert(db.cursor().execute, batch, qmark)
            db.execute("COMMIT")
        except sqlite3.IntegrityError:
            self._rollback()
            return None
        except (sqlite3.Error, ValueError) as exc:
            self._rollback()
            return [(FAILED, f"the database write failed: {exc}")] * len(batches)
        took = (len(batch.delivery_ids), time.perf_counter() - started)
        answers: list[Answer] = []
        for one in batches:
            answers.append((STORED, fired[: len(one.delivery_ids)], took))
            fired = fired[len(one.delivery_ids) :]
        return answers

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.rollback()

    def _sync_wal(self) -> None:
        fd = os.open(f"{self._database}-wal", os.O_RDONLY)
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)

    def _answer(self, answers: list[tuple[socket.socket, Answer]]) -> None:
        """Send each connection its answers, in order; a sender that left is dropped."""
        out: dict[socket.socket, bytearray] = {}
        for sock, answer in answers:
            out.setdefault(sock, bytearray()).extend(frame(answer))
        for sock, data in out.items():
            if sock not in self._buffers:
                continue
            try:
                sock.settimeout(SEND_TIMEOUT_SECONDS)  # a sender that stopped reading is dropped
                sock.sendall(data)
                sock.setblocking(False)
            except OSError:  # socket.timeout included
                self._forget(sock)


def _stop_with_parent() -> None:
    """SIGTERM this process when the serving process that started it exits (Linux)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def main(argv: list[str]) -> None:
    database, path, sync = argv[1], argv[2], argv[3] == "full"
    parent = os.getppid()
    _stop_with_parent()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    listener.setblocking(False)
    writer = WriterProcess(database, listener, sync)
    signal.set_wakeup_fd(writer.wake.fileno())  # so that SIGTERM ends the wait in select()
    signal.signal(signal.SIGTERM, writer.stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the parent decides
    if os.getppid() != parent:
        return
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    writer.serve()


if __name__ == "__main__":
    main(sys.argv)
