"""Child processes for tools: a cheap spawn, an exit awaited without a thread, bounded output.

`subprocess.Popen` spawns with vfork (the server's memory is not copied, unlike a fork), in a
new session so a timeout kills the whole process group. The exit is awaited through a pidfd
the event loop watches (no thread per child, as asyncio's default watcher on 3.11 would start,
and no fork, as uvloop's spawn does); stdout and stderr keep only their last bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections import deque
from dataclasses import dataclass

OUTPUT_TAIL_BYTES = 16 * 1024
REAP_SECONDS = 5.0  # how long to wait for a killed group's leader to exit


class TailBuffer:
    """Keeps the last `limit` bytes of a stream and counts what was dropped."""

    def __init__(self, limit: int = OUTPUT_TAIL_BYTES):
        self.limit = limit
        self.chunks: deque[bytes] = deque()
        self.size = 0
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.size += len(chunk)
        while self.size - len(self.chunks[0]) >= self.limit:
            first = self.chunks.popleft()
            self.size -= len(first)
            self.dropped += len(first)

    def text(self) -> str:
        data = b"".join(self.chunks)
        excess = max(0, len(data) - self.limit)
        return data[excess:].decode("utf-8", "replace")

    @property
    def truncated(self) -> bool:
        return self.dropped > 0 or self.size > self.limit


class _TailReader(asyncio.Protocol):
    """Feeds a pipe into a TailBuffer; `closed` resolves at end of file or when closed."""

    def __init__(self) -> None:
        self.tail = TailBuffer()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.tail.add(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


@dataclass(frozen=True)
class Finished:
    """How a process ended: its exit status (None if it could not be reaped) and output tails."""

    returncode: int | None
    timed_out: bool
    stdout: TailBuffer
    stderr: TailBuffer


def spawn(argv: list[str], cwd: str | None, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start `argv` (the program looked up on env's PATH) in a new session, output piped.

    OSError when the program or cwd cannot be used; ValueError for a NUL byte or text that has
    no byte form in an argument or variable.
    """
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=env,
        start_new_session=True,  # its own process group: a timeout kills every child too
    )


async def _exit_status(proc: subprocess.Popen[bytes]) -> int:
    """Await the process's exit and reap it; a pidfd becomes readable once it has exited."""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux ≥ 5.3: a thread waits instead
        return await asyncio.to_thread(proc.wait)
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(pidfd, readable)
    try:
        await exited
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
    return proc.wait()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def supervise(proc: subprocess.Popen[bytes], timeout: float) -> Finished:
    """Collect the output tails until exit; past `timeout` (or when cancelled) kill the group."""
    loop = asyncio.get_running_loop()
    status = asyncio.ensure_future(_exit_status(proc))
    pipes: list[tuple[asyncio.BaseTransport, _TailReader]] = []
    timed_out = False
    try:
        for pipe in (proc.stdout, proc.stderr):
            pipes.append(await loop.connect_read_pipe(_TailReader, pipe))
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(reader.closed for _, reader in pipes), asyncio.shield(status))
    except TimeoutError:
        timed_out = True
    finally:
        if timed_out or not status.done():  # timeout or cancellation: kill every child, reap
            _kill_group(proc.pid)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(status), REAP_SECONDS)
        for transport, _ in pipes:  # a child that left the group may still hold them open
            transport.close()
    (_, out), (_, err) = pipes
    return Finished(proc.returncode, timed_out, out.tail, err.tail)
