"""The main serving process's side: it keeps its sibling processes serving, and stops them.

Siblings start once the main process has migrated the database, share its listening socket
(inherited), and write to a pipe that wakes the main process's workers. One that crashes is
started again after a second (longer if it keeps crashing); on shutdown each gets SIGTERM (a
graceful stop of its own) and is killed only if it has not exited within the grace period.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from octipus.serving.keeper import ScratchDirectory, keep_running, stop_processes
from octipus.serving.shared import ChangeCounter, Shared

if TYPE_CHECKING:
    from octipus.runtime import Runtime


def share_metrics(directory: Path) -> None:
    """Keep Prometheus metrics in files under `directory`, summed over every process by /metrics.

    Must run before `octipus.metrics` creates its metrics; siblings inherit the setting.
    """
    if "octipus.metrics" in sys.modules:
        raise RuntimeError("share_metrics() must run before octipus.metrics is imported")
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    from prometheus_client import values

    values.ValueClass = values.MultiProcessValue()


class ProcessGroup(ScratchDirectory):
    """Siblings serving `sock` beside this process; what they share lives in a scratch dir."""

    is_main = True

    def __init__(self, sock: socket.socket, siblings: int, grace_seconds: float):
        self._sock = sock
        self._count = siblings
        self._grace = grace_seconds
        super().__init__("octipus-serving-")
        share_metrics(self.directory / "metrics")
        self.shared = Shared(ChangeCounter(self.directory / "hooks"))
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        self._procs: dict[int, asyncio.subprocess.Process] = {}
        self._keepers: list[asyncio.Task[None]] = []
        self._stopping = False
        self._writer_socket: Path | None = None

    async def start(self, runtime: Runtime) -> None:
        """Wake `runtime`'s workers when a sibling queues work, and start the siblings."""
        loop = asyncio.get_running_loop()
        loop.add_reader(self._wake_read, self._woken, runtime)
        self._writer_socket = runtime.writer_socket
        self._keepers = [
            asyncio.create_task(self._keep_serving(i), name=f"sibling-{i}")
            for i in range(self._count)
        ]

    def _woken(self, runtime: Runtime) -> None:
        try:
            while os.read(self._wake_read, 4096):
                pass
        except BlockingIOError:
            pass
        runtime.wake_workers()

    async def _keep_serving(self, index: int) -> None:
        async def start() -> asyncio.subprocess.Process:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "octipus.serving.sibling",
                str(self._sock.fileno()),
                str(self._wake_write),
                str(self.directory),
                *([str(self._writer_socket)] if self._writer_socket else []),
                pass_fds=(self._sock.fileno(), self._wake_write),
            )
            self._procs[index] = proc
            return proc

        await keep_running(start, "a serving process", lambda: self._stopping)

    async def stop(self) -> None:
        """SIGTERM every sibling and wait for it (SIGKILL after the grace period)."""
        self._stopping = True
        await stop_processes(list(self._procs.values()), self._grace, "a serving process")
        for keeper in self._keepers:
            keeper.cancel()
        await asyncio.gather(*self._keepers, return_exceptions=True)
        asyncio.get_running_loop().remove_reader(self._wake_read)
        os.close(self._wake_read)
        os.close(self._wake_write)
        self.shared.hooks.close()
        self.remove_directory()
