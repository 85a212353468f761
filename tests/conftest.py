"""Shared fixtures: real servers on loopback ports, a fresh PostgreSQL database, fixtures."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.receiver import Receiver
from tests.support.server import ServerProcess

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start servers with custom environment: `server_factory(env={...})`; all stopped after."""
    started: list[ServerProcess] = []

    def start(
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        data_dir: Path | None = None,
        autostart: bool = True,
        ready_log: str | None = None,
    ) -> ServerProcess:
        proc = ServerProcess(data_dir or tmp_path / f"data{len(started)}", env, args, ready_log)
        started.append(proc)
        return proc.start() if autostart else proc

    yield start
    for proc in started:
        proc.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One default server (SQLite, worker on) shared by a test module; use unique hook paths."""
    proc = ServerProcess(tmp_path_factory.mktemp("server")).start()
    yield proc
    proc.kill()


def _pg(statement: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture
def pg_database_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"octipus_{uuid.uuid4().hex[:12]}"
    try:
        _pg(f'CREATE DATABASE "{name}"')
    except OSError as exc:
        pytest.fail(f"PostgreSQL is not reachable on 127.0.0.1:5432: {exc}")
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local HTTP receiver (records requests, scripted replies) on a loopback port."""
    with Receiver() as running:
        yield running
