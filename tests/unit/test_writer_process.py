"""The ingress writer process (ingress/writer_process.py) and a serving process's link to it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from octipus.config import Settings
from octipus.db.connectors import create_engine
from octipus.db.engine import upgrade_schema
from octipus.db.ids import new_id
from octipus.hooks.cache import HookEntry
from octipus.ingress.accept import Accepted, Outcome
from octipus.ingress.encoded import BatchEncoder, BatchRows
from octipus.ingress.providers.verifier import build_verifier
from octipus.ingress.writer_link import WriterLink, WriterUnavailable
from octipus.ingress.writer_process import WriterProcess
from octipus.ingress.writer_protocol import CONFLICT, STORED

HOOK = "hook-1"


@pytest.fixture
async def database(tmp_path: Path) -> str:
    """A migrated SQLite file with one user and one hook."""
    path = tmp_path / "t.db"
    engine = create_engine(Settings(database_url=f"sqlite+aiosqlite:///{path}", data_dir=tmp_path))
    await upgrade_schema(engine)
    await engine.dispose()
    now = "2026-01-01 00:00:00.000000"
    with closing(sqlite3.connect(path)) as db:
        db.execute(
            "INSERT INTO users (id, name, is_admin, created_at) VALUES ('u', 'u', 0, ?)", [now]
        )
        db.execute(
            "INSERT INTO hooks (id, owner_id, name, trigger, webhook_path, trigger_config, action,"
            " action_config, conditions, is_enabled, priority, execution_count, cooldown_ms,"
            " created_at, updated_at) VALUES (?, 'u', 'h', 'webhook', 'p', '{}', 'webhook', '{}',"
            " '[]', 1, 0, 0, 0, ?, ?)",
            [HOOK, now, now],
        )
        db.commit()
    return str(path)


def _batch(*delivery_ids: str, pk: str | None = None) -> BatchRows:
    """Plain rows, as a serving process sends them."""
    entry = HookEntry(
        HOOK, "h", "webhook", "github", build_verifier({}), frozenset(), [], None, (), "u"
    )
    items = [
        Accepted(
            {
                "id": pk or new_id(),
                "path": "p",
                "delivery_id": delivery_id,
                "event_type": "push",
                "method": "POST",
                "content_type": "application/json",
                "headers": {"x-github-event": "push"},
                "query": {},
                "body": b"{}",
                "received_at": datetime.now(UTC),
            },
            [(entry, Outcome("queued"))],
        )
        for delivery_id in delivery_ids
    ]
    return BatchEncoder.plain(items, 8)


def _encoded(*delivery_ids: str, pk: str | None = None) -> BatchRows:
    """Encoded rows, as the writer process stores them once received."""
    return BatchEncoder().encode(_batch(*delivery_ids, pk=pk))


def _count(database: str, table: str) -> int:
    with closing(sqlite3.connect(database)) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


@pytest.fixture
def writer(database: str, tmp_path: Path) -> Iterator[WriterProcess]:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "w.sock"))
    listener.listen()
    yield WriterProcess(database, listener, sync=True)
    listener.close()


def test_one_transaction_stores_the_batches_of_several_senders(
    writer: WriterProcess, database: str
):
    a, b = socket.socketpair()
    answers = writer._store([(a, _encoded("a1", "a2")), (b, _encoded("b1"))])
    assert [(sock, answer[:2]) for sock, answer in answers] == [
        (a, (STORED, [[HOOK], [HOOK]])),
        (b, (STORED, [[HOOK]])),
    ]
    assert {answer[2] for _, answer in answers} == {answers[0][1][2]}  # one transaction
    assert answers[0][1][2][0] == 3  # of three deliveries
    assert _count(database, "executions") == 3


def test_a_sender_whose_row_breaks_a_constraint_does_not_fail_the_others(
    writer: WriterProcess, database: str
):
    a, b = socket.socketpair()
    writer._store([(a, _encoded("first", pk="taken"))])
    answers = writer._store([(a, _encoded("again", pk="taken")), (b, _encoded("fine"))])
    assert answers[0][1][0] == CONFLICT
    assert answers[1][1][:2] == (STORED, [[HOOK]])
    assert _count(database, "deliveries") == 2


def test_a_repeated_delivery_fires_nothing_and_leaves_no_delivery(
    writer: WriterProcess, database: str
):
    a, _ = socket.socketpair()
    writer._store([(a, _encoded("same"))])
    [(_, answer)] = writer._store([(a, _encoded("same"))])
    assert answer[:2] == (STORED, [[]])
    assert _count(database, "deliveries") == 1


def _start(database: str, path: Path) -> subprocess.Popen[bytes]:
    """The writer process, as serving/writer.py starts it, once it says it is ready."""
    command = [sys.executable, "-m", "octipus.ingress.writer_process", database, str(path), "full"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    return proc


@pytest.fixture
def process(database: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    path = tmp_path / "ingress.sock"
    proc = _start(database, path)
    yield proc, path
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


async def test_a_link_stores_batches_through_the_process(
    process: tuple[subprocess.Popen[bytes], Path], database: str
):
    _, path = process
    link = WriterLink(path)
    answers = await asyncio.gather(*(link.write(_batch(f"d{i}")) for i in range(20)))
    assert answers == [[[HOOK]]] * 20
    assert _count(database, "executions") == 20
    with pytest.raises(sqlite3.IntegrityError):
        await link.write(_batch("x", pk=_first_delivery_pk(database)))
    link.close()


def _first_delivery_pk(database: str) -> str:
    with closing(sqlite3.connect(database)) as db:
        return str(db.execute("SELECT id FROM deliveries LIMIT 1").fetchone()[0])


async def test_batches_waiting_on_a_killed_process_fail_and_the_link_reconnects(
    process: tuple[subprocess.Popen[bytes], Path], database: str, tmp_path: Path
):
    proc, path = process
    link = WriterLink(path)
    assert await link.write(_batch("before")) == [[HOOK]]
    os.kill(proc.pid, signal.SIGSTOP)  # holds the next batch unanswered
    waiting = asyncio.create_task(link.write(_batch("lost")))
    await asyncio.sleep(0.2)
    proc.kill()
    with pytest.raises(WriterUnavailable):
        await asyncio.wait_for(waiting, 10)
    await asyncio.to_thread(proc.wait, 10)  # gone, listener included
    with pytest.raises(WriterUnavailable, match="not reachable"):
        await link.write(_batch("nobody"))
    path.unlink()  # as serving/writer.py does before it starts another
    again = _start(database, path)
    try:
        assert await link.write(_batch("after")) == [[HOOK]]
    finally:
        again.kill()
        again.wait(10)
    link.close()


async def test_sigterm_stops_the_process_once_its_senders_have_left(
    process: tuple[subprocess.Popen[bytes], Path],
):
    proc, path = process
    link = WriterLink(path)
    assert await link.write(_batch("one")) == [[HOOK]]
    proc.send_signal(signal.SIGTERM)
    assert await link.write(_batch("still served")) == [[HOOK]]  # a sender is still there
    link.close()
    assert await asyncio.to_thread(proc.wait, 10) == 0
