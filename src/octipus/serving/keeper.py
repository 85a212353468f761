"""Keeping helper processes running (started again after a crash, with a growing delay), and
the scratch directory their keeper owns."""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Self

log = logging.getLogger(__name__)
RESTART_DELAY_SECONDS = 1.0  # doubled after each crash up to the maximum, reset once stable
MAX_RESTART_DELAY_SECONDS = 30.0
STABLE_SECONDS = 60.0
# Exit codes of a process that stopped because it was told to: uvicorn exits through the signal
# it shut down on. Any other exit (a crash, SIGKILL) gets a new process.
ASKED_TO_STOP = (0, -signal.SIGTERM, -signal.SIGINT)


async def keep_running(
    start: Callable[[], Awaitable[asyncio.subprocess.Process]],
    what: str,
    stopping: Callable[[], bool],
) -> None:
    """Run `start()`'s process again whenever it exits on its own, until `stopping()`."""
    delay = RESTART_DELAY_SECONDS
    while not stopping():
        started = time.monotonic()
        proc = await start()
        code = await proc.wait()
        if stopping() or code in ASKED_TO_STOP:
            return
        if time.monotonic() - started > STABLE_SECONDS:
            delay = RESTART_DELAY_SECONDS
        log.error(
            f"{what} exited; starting another", extra={"exit_code": code, "in_seconds": delay}
        )
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_RESTART_DELAY_SECONDS)


async def stop_processes(procs: list[asyncio.subprocess.Process], grace: float, what: str) -> None:
    """SIGTERM each of `procs` still running and wait for it (SIGKILL after `grace` + 10 s)."""
    running = [p for p in procs if p.returncode is None]
    for proc in running:
        proc.terminate()
    waits = [asyncio.create_task(p.wait()) for p in running]
    if not waits:
        return
    _, late = await asyncio.wait(waits, timeout=grace + 10)
    for proc in running:
        if proc.returncode is None:
            log.warning(f"{what} did not stop in time; killing it")
            proc.kill()
    if late:
        await asyncio.wait(late, timeout=10)


MAX_BASE_CHARS = 64  # a longer TMPDIR leaves too little room for a socket path: /tmp then


class ScratchDirectory:
    """A private temporary directory, removed by `with`'s exit (also when start-up failed) and
    by `remove_directory`, which a keeper's `stop` calls: uvicorn ends a process stopped by a
    signal by raising that signal again, so `__exit__` does not run then."""

    def __init__(self, prefix: str):
        base = tempfile.gettempdir()
        # Unix sockets live in it, and their whole path must fit in 108 bytes.
        where = base if len(base) <= MAX_BASE_CHARS else "/tmp"
        self.directory = Path(tempfile.mkdtemp(prefix=prefix, dir=where))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.remove_directory()

    def remove_directory(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
