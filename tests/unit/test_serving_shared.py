"""What serving processes share (octipus/serving/shared.py), and how many of them serve."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("cpus,expected", [(1, 1), (2, 2), (16, 2), (None, 1)])
def test_serving_processes_default_to_one_per_cpu_up_to_two(
    monkeypatch: pytest.MonkeyPatch, cpus: int | None, expected: int
):
    monkeypatch.delenv("OCTIPUS_HTTP_PROCESSES", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    assert Settings(_env_file=None).serving_processes == expected  # type: ignore[call-arg]
    assert Settings(_env_file=None, http_processes=3).serving_processes == 3  # type: ignore[call-arg]
