"""Child processes for tools: a cheap spawn, an exit awaited without a thread, bounded output.

`subprocess.Popen` spawns with vfork (the server's memory is not copied, unlike a fork), in a
new session so a timeout kills the whole process group. It runs on one spawner thread whose
niceness (TOOL_NICENESS) every command inherits (Linux keeps niceness per thread): commands
yield the CPU to the server's own work, so receiving and storing deliveries stays fast while a
burst of commands runs, and the backlog is worked off with what is left. The exit is awaited
through a pidfd the event loop watches (no thread per child, as asyncio's default watcher on
3.11 would start, and no fork, as uvloop's spawn does); stdout and stderr keep only their last
bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

OUTPUT_TAIL_BYTES = 16 * 1024
REAP_SECONDS = 5.0  # how long to wait for a killed group's leader to exit
TOOL_NICENESS = 10  # of every command: below the server (0), so the server is served first


def _lower_priority() -> None:
    """Give the spawner thread (and so every child it starts) TOOL_NICENESS."""
    with contextlib.suppress(OSError):  # not permitted (a lower niceness than ours): keep ours
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), TOOL_NICENESS)


_spawner = ThreadPoolExecutor(1, "octipus-spawner", initializer=_lower_priority)


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


async def spawn(argv: list[str], cwd: str | None, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start `argv` (the program looked up on env's PATH) in a new session, output piped, at
    TOOL_NICENESS.

    OSError when the program or cwd cannot be used; ValueError for a NUL byte or text that has
    no byte form in an argument or variable.
    """
    start = partial(_popen, argv, cwd, env)
    return await asyncio.get_running_loop().run_in_executor(_spawner, start)


def _popen(argv: list[str], cwd: str | None, env: dict[str, str]) -> subprocess.Popen[bytes]:
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
