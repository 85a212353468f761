"""The main serving process's side of the ingress writer process (ingress/writer_process.py).

On SQLite with two or more CPUs (OCTIPUS_INGRESS_WRITER, README › Operations) the main process
starts it once the database is migrated, before it serves; its socket lives in a directory only
this user can enter. If it crashes, batches waiting on it are answered 503 and it is started
again (serving/keeper.py); serving processes reconnect on their next batch. It is stopped last,
once every serving process has answered what it had.
"""

from __future__ import annotations

import asyncio
import sys

from octipus.serving.keeper import ScratchDirectory, keep_running, stop_processes

READY_TIMEOUT_SECONDS = 30.0
SOCKET_NAME = "ingress.sock"


class WriterNotReady(RuntimeError):
    """The writer process exited, or did not say it was ready in time."""


class IngressWriter(ScratchDirectory):
    """Keeps the writer process of the SQLite file `database` running on `socket`."""

    def __init__(self, database: str, synchronous: str, grace_seconds: float):
        self._database = database
        self._synchronous = synchronous
        self._grace = grace_seconds
        super().__init__("octipus-ingress-")
        self.socket = self.directory / SOCKET_NAME
        self._proc: asyncio.subprocess.Process | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        """Start the process and return once it accepts batches; keep it running after."""
        first = asyncio.get_running_loop().create_future()

        async def start() -> asyncio.subprocess.Process:
            proc, ready = await self._spawn()
            if not first.done():
                if not ready:
                    raise WriterNotReady(
                        f"the ingress writer process did not start (exit code {proc.returncode});"
                        " its error is in the log above"
                    )
                first.set_result(None)
            return proc  # after a crash, one that failed to start is tried again later

        self._keeper = asyncio.create_task(
            keep_running(start, "the ingress writer process", lambda: self._stopping),
            name="ingress-writer",
        )
        await asyncio.wait([first, self._keeper], return_when=asyncio.FIRST_COMPLETED)
        if not first.done():
            self._keeper.result()  # raises what start() raised

    async def stop(self) -> None:
        """SIGTERM the process; it stops once every sender has left."""
        self._stopping = True
        if self._proc is not None:
            await stop_processes([self._proc], self._grace, "the ingress writer process")
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
        self.remove_directory()

    async def _spawn(self) -> tuple[asyncio.subprocess.Process, bool]:
        """The process, and whether it said it was ready (if not, it has been killed)."""
        self.socket.unlink(missing_ok=True)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "octipus.ingress.writer_process",
            self._database,
            str(self.socket),
            self._synchronous,
            stdout=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
        )
        self._proc = proc
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), READY_TIMEOUT_SECONDS)
        except TimeoutError:
            line = b""
        ready = line.strip() == b"ready"
        if not ready:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
        return proc, ready
