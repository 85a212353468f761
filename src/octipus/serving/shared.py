"""What the serving processes share: a counter of hook changes and the workers' wake-up pipe."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import mmap
import os
from dataclasses import dataclass
from pathlib import Path

_SIZE = 8


class ChangeCounter:
    """A counter in a small memory-mapped file: bumped by any process, read by all without a
    system call (the hook cache reads it on every lookup)."""

    def __init__(self, path: Path):
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size < _SIZE:
            os.ftruncate(self._fd, _SIZE)
        self._map = mmap.mmap(self._fd, _SIZE)

    @property
    def value(self) -> int:
        return int.from_bytes(self._map[:_SIZE], "little")

    def bump(self) -> None:
        """Add one, under a file lock so that no two processes' bumps collapse into one."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            self._map[:_SIZE] = (self.value + 1).to_bytes(_SIZE, "little")
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)


class WakePipe:
    """A sibling's end of the pipe that wakes the main process's workers: at most one byte per
    event-loop step, and never blocking (a full pipe already means the workers will wake)."""

    def __init__(self, fd: int):
        self._fd = fd
        os.set_blocking(fd, False)
        self._pending = False

    def __call__(self) -> None:
        if not self._pending:
            self._pending = True
            asyncio.get_running_loop().call_soon(self._send)

    def _send(self) -> None:
        self._pending = False
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(self._fd, b"\1")


@dataclass
class Shared:
    """What a process's Runtime needs of the others: `hooks` is bumped after every committed hook
    change; `wake` (siblings only) tells the main process that executions were queued."""

    hooks: ChangeCounter
    wake: WakePipe | None = None
