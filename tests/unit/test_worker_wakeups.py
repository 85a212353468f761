"""NOTIFY wake-ups coalesce: a worker whose last round found nothing is not spun by a burst."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from octipus.config import Settings
from octipus.queue.worker import NOTIFY_QUIET_SECONDS, Worker


def _worker() -> Worker:
    runtime = SimpleNamespace(settings=Settings(), work_available=asyncio.Event())
    return Worker(runtime)  # type: ignore[arg-type]


async def test_a_notify_wakes_a_worker_at_once_after_a_round_that_claimed_work():
    worker = _worker()
    worker._after_claim(free=5, claimed=5)
    assert not worker.runtime.work_available.is_set()
    worker._notified()
    assert worker.runtime.work_available.is_set()


async def test_a_burst_after_an_empty_round_wakes_one_round_when_the_quiet_ends():
    worker = _worker()
    worker._after_claim(free=5, claimed=0)
    woken = worker.runtime.work_available
    for _ in range(100):
        worker._notified()
    assert not woken.is_set()
    await asyncio.wait_for(woken.wait(), NOTIFY_QUIET_SECONDS * 20)
    assert worker._wake_timer is None  # one timer for the whole burst, now spent


async def test_a_round_that_claimed_some_with_slots_left_goes_again():
    worker = _worker()
    worker._after_claim(free=5, claimed=2)
    assert worker.runtime.work_available.is_set()
