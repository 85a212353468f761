"""The SSRF guard at the socket, for libraries that open their own connections (Apprise).

`GuardedProcess` runs functions in worker processes where an audit hook (`sys.addaudithook`,
PEP 578) checks every socket connect and datagram send against the rule of net/addresses.py.
The check sees the address the socket is about to use, so it covers each hop of a redirect, a
DNS answer that changed since an earlier check, and every protocol (HTTP, SMTP, MQTT, syslog)
whatever the library does. Connecting by name (the socket resolving it itself) and to Unix
sockets is refused. A host allowed by name: the name this thread last resolved is taken as the
connection's host (urllib3, smtplib and socket.create_connection resolve right before they
connect). The hook is installed only in the worker processes, never in the serving process.
"""

from __future__ import annotations

import asyncio
import ipaddress
import multiprocessing
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from octipus.net.addresses import BlockedDestination, is_allowed_host, refusal

T = TypeVar("T")
WORKERS = 2  # processes; each runs one call at a time
_SENDS = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg"})
_resolving = threading.local()  # .host: the name this thread last passed to getaddrinfo
_refused: list[str] = []  # why connections were refused during the current call
_allow_hosts: frozenset[str] = frozenset()


class BlockedConnection(ConnectionRefusedError):
    """A connect or send the guard refused; an OSError, so libraries report a failed
    connection as they would any other."""


def connect_refusal(
    address: object, resolved: str | None, allow_hosts: frozenset[str]
) -> BlockedDestination | None:
    """The error for a socket connecting (or sending) to `address`, last having resolved the
    name `resolved`; None when it may."""
    if not isinstance(address, tuple) or not address or not isinstance(address[0], str):
        return BlockedDestination(f"Refusing to connect to {address!r}: not an IP address")
    host = address[0]
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        if is_allowed_host(host, allow_hosts):
            return None
        return BlockedDestination(f"Refusing to connect to {host!r}: a name not resolved first")
    return refusal(ip, resolved or host, allow_hosts)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.getaddrinfo":
        host = args[0]
        _resolving.host = host.decode() if isinstance(host, bytes) else host
    elif event in _SENDS and args[1] is not None:  # sendmsg on a connected socket: no address
        error = connect_refusal(args[1], getattr(_resolving, "host", None), _allow_hosts)
        if error is not None:
            _refused.append(str(error))
            raise BlockedConnection(str(error))


def _install(allow_hosts: frozenset[str]) -> None:
    """A worker's start: from here on, every socket in this process is checked."""
    global _allow_hosts
    _allow_hosts = allow_hosts
    sys.addaudithook(_audit)


def _call(function: Callable[..., T], args: tuple[Any, ...]) -> tuple[T, list[str]]:
    """Run `function` in a worker; its result and the connections refused meanwhile."""
    _refused.clear()
    result = function(*args)
    return result, list(_refused)


class GuardedProcess:
    """Worker processes (started on first use, with `spawn`) whose sockets reach only public
    addresses or `allow_hosts`. `run` answers the function's result and the refusals."""

    def __init__(self, allow_hosts: frozenset[str], workers: int = WORKERS) -> None:
        self.allow_hosts = allow_hosts
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def _open(self) -> ProcessPoolExecutor:
        self._pool = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),  # no copy of this process's loop
            initializer=_install,
            initargs=(self.allow_hosts,),
        )
        return self._pool

    async def run(self, function: Callable[..., T], *args: Any) -> tuple[T, list[str]]:
        """`function(*args)` in a worker (both picklable); OSError if the worker died."""
        pool = self._pool or self._open()
        try:
            return await asyncio.wrap_future(pool.submit(_call, function, args))
        except BrokenProcessPool:
            self._pool = None  # the next call starts new workers
            raise OSError("the guarded worker process stopped unexpectedly") from None

    async def aclose(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown, True, cancel_futures=True)
