"""What serving processes share (octipus/serving/shared.py), and how many of them serve."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from octipus.config import Settings
from octipus.serving.shared import ChangeCounter, WakePipe


def test_a_bump_through_one_mapping_is_read_through_another(tmp_path: Path):
    first, second = ChangeCounter(tmp_path / "hooks"), ChangeCounter(tmp_path / "hooks")
    assert first.value == second.value == 0
    first.bump()
    second.bump()
    assert first.value == second.value == 2
    first.close()
    second.close()


async def test_wake_pipe_sends_one_byte_per_loop_step_and_never_blocks():
    read, write = os.pipe()
    wake = WakePipe(write)
    for _ in range(5):
        wake()
    await asyncio.sleep(0)
    assert os.read(read, 100) == b"\1"
    os.set_blocking(read, False)
    for _ in range(70_000):  # far more than a pipe holds: the surplus is dropped, not waited for
        wake._send()
    assert len(os.read(read, 1 << 20)) > 0
    os.close(read)
    os.close(write)


SQLITE = "sqlite+aiosqlite:///./data/octipus.db"
POSTGRES = "postgresql+asyncpg://127.0.0.1/test"


@pytest.mark.parametrize(
    "database,writer,cpus,processes,writer_process",
    [
        (SQLITE, "auto", 1, 1, False),
        (SQLITE, "auto", None, 1, False),
        (SQLITE, "auto", 2, 1, True),  # one HTTP process beside the ingress writer process
        (SQLITE, "auto", 16, 1, True),
        (SQLITE, "inline", 2, 1, False),  # the one serving process writes
        (SQLITE, "inline", 16, 1, False),
        (SQLITE, "process", 1, 1, True),
        ("sqlite+aiosqlite:///:memory:", "process", 2, 1, False),
        (POSTGRES, "auto", 2, 2, False),  # one per CPU, at most two
        (POSTGRES, "process", 16, 2, False),
    ],
)
def test_serving_processes_and_the_ingress_writer_by_default(
    monkeypatch: pytest.MonkeyPatch,
    database: str,
    writer: str,
    cpus: int | None,
    processes: int,
    writer_process: bool,
):
    for name in ("OCTIPUS_HTTP_PROCESSES", "OCTIPUS_INGRESS_WRITER", "OCTIPUS_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    settings = Settings(_env_file=None, database_url=database, ingress_writer=writer)  # type: ignore[call-arg]
    assert settings.serving_processes == processes
    assert settings.ingress_writer_process is writer_process
    if writer_process or database == POSTGRES:
        asked = Settings(
            _env_file=None, database_url=database, ingress_writer=writer, http_processes=3
        )  # type: ignore[call-arg]
        assert asked.serving_processes == 3


@pytest.mark.parametrize("writer,cpus", [("inline", 16), ("auto", 1)])
def test_several_serving_processes_writing_sqlite_inline_are_refused(
    monkeypatch: pytest.MonkeyPatch, writer: str, cpus: int
):
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    with pytest.raises(ValidationError, match="OCTIPUS_INGRESS_WRITER=process"):
        Settings(_env_file=None, database_url=SQLITE, ingress_writer=writer, http_processes=2)  # type: ignore[call-arg]
    one = Settings(_env_file=None, database_url=SQLITE, ingress_writer=writer, http_processes=1)  # type: ignore[call-arg]
    assert (one.serving_processes, one.ingress_writer_process) == (1, False)
