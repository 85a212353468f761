"""A busy worker lets more runs end before its next round; an idle one starts work at once."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from octipus.config import Settings
from octipus.queue.worker import Worker


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays the worker asks asyncio.sleep for (not slept)."""
    asked: list[float] = []

    async def record(seconds: float) -> None:
        asked.append(seconds)

    monkeypatch.setattr("octipus.queue.worker.asyncio.sleep", record)
    return asked


def _worker(gather_ms: float) -> Worker:
    return Worker(SimpleNamespace(settings=Settings(worker_gather_ms=gather_ms)))  # type: ignore[arg-type]


async def test_a_worker_with_runs_in_flight_waits_the_gather_window(sleeps: list[float]):
    worker = _worker(7)
    in_flight = asyncio.get_running_loop().create_future()
    worker._running.add(asyncio.ensure_future(in_flight))
    await worker._gather()
    assert sleeps == [0.007]
    in_flight.cancel()


async def test_an_idle_or_stopping_worker_does_not_wait(sleeps: list[float]):
    worker = _worker(7)
    await worker._gather()  # nothing running: new work starts at once
    in_flight = asyncio.get_running_loop().create_future()
    worker._running.add(asyncio.ensure_future(in_flight))
    worker._stopping = True
    await worker._gather()
    assert sleeps == []
    in_flight.cancel()
