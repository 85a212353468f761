"""A sibling serving process, started by the main one (group.py): it serves requests only.

`python -m octipus.serving.sibling LISTEN_FD WAKE_FD DIRECTORY [WRITER_SOCKET]`, with the settings
from the environment it inherits; WRITER_SOCKET is the ingress writer process's socket, when one
stores the deliveries (serving/writer.py). It runs no migrations, workers or channel pollers, and
stops (SIGTERM, gracefully) when the main process is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from octipus.serving.shared import ChangeCounter, Shared, WakePipe

if TYPE_CHECKING:
    from octipus.runtime import Runtime

PR_SET_PDEATHSIG = 1
WATCH_SECONDS = 1.0


def _stop_with(parent: int) -> None:
    """SIGTERM this process when `parent` exits (Linux does it at once; elsewhere a watch task)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


class SiblingLink:
    """A sibling's view of the group: the shared counter, the wake pipe, a watch on the parent."""

    is_main = False

    def __init__(self, wake_fd: int, directory: Path, parent: int):
        self.shared = Shared(ChangeCounter(directory / "hooks"), WakePipe(wake_fd))
        self._parent = parent
        self._watch: asyncio.Task[None] | None = None

    async def start(self, runtime: Runtime) -> None:
        self._watch = asyncio.create_task(self._watch_parent(), name="watch-parent")

    async def _watch_parent(self) -> None:
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            if os.getppid() != self._parent:
                os.kill(os.getpid(), signal.SIGTERM)
                return

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        self.shared.hooks.close()


def main(argv: list[str]) -> None:
    from octipus.app import create_app
    from octipus.config import Settings
    from octipus.logs import configure_logging
    from octipus.serving.server import serve

    listen_fd, wake_fd, directory = int(argv[1]), int(argv[2]), Path(argv[3])
    writer = Path(argv[4]) if len(argv) > 4 else None
    parent = os.getppid()
    _stop_with(parent)
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    link = SiblingLink(wake_fd, directory, parent)
    app = create_app(settings, with_worker=False, group=link, writer=writer)
    serve(app, settings, socket.socket(fileno=listen_fd))


if __name__ == "__main__":
    main(sys.argv)
