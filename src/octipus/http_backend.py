"""The HTTP clients for action traffic: httpx over an httpcore pool on asyncio's transports.

httpcore's default network backend goes through AnyIO streams: every read and write enters
cancel scopes and looks up the current task, and before each request the pool asks every pooled
connection whether its server closed it, with a `poll()` system call each. Here a connection is
an asyncio Protocol that buffers what arrives: reads and writes are direct, and "did the server
close this idle connection?" is answered from what the event loop already delivered.
`operator_client` (Telegram, Slack) and the SSRF guard's client (actions/ssrf.py) use it.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import typing
from collections.abc import Iterable

import aiohappyeyeballs
import httpcore
import httpx
from aiohappyeyeballs import AddrInfoType

# Stop reading from the socket while this much received data waits for httpcore to read it.
_HIGH_WATER = 256 * 1024


class _Connection(asyncio.Protocol):
    """What one TCP connection received, and whether it may be written to now."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.received = bytearray()
        self.closed = False  # the peer ended the stream or the connection was lost
        self.error: Exception | None = None
        self._readable: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self._paused_reading = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received += data
        if len(self.received) > _HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
            self._paused_reading = True
        self._wake_reader()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake_reader()
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.error = exc
        self._wake_reader()
        self.resume_writing()

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    def _wake_reader(self) -> None:
        if self._readable is not None and not self._readable.done():
            self._readable.set_result(None)

    async def readable(self) -> None:
        """Wait until data or the end of the stream arrived."""
        if self.received or self.closed:
            return
        self._readable = asyncio.get_running_loop().create_future()
        try:
            await self._readable
        finally:
            self._readable = None

    async def writable(self) -> None:
        """Wait while the transport's write buffer is above its high-water mark."""
        if self._writable is not None:
            await asyncio.shield(self._writable)

    def take(self, max_bytes: int) -> bytes:
        data = bytes(self.received[:max_bytes])
        del self.received[:max_bytes]
        if self._paused_reading and len(self.received) <= _HIGH_WATER // 2:
            assert self.transport is not None
            self.transport.resume_reading()
            self._paused_reading = False
        return data


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection as httpcore's network stream."""

    def __init__(self, transport: asyncio.Transport, connection: _Connection) -> None:
        self._transport = transport
        self._connection = connection

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        connection = self._connection
        try:
            async with asyncio.timeout(timeout):
                await connection.readable()
        except TimeoutError:
            raise httpcore.ReadTimeout(f"No data received within {timeout}s") from None
        if connection.received:
            return connection.take(max_bytes)
        if connection.error is not None:
            raise httpcore.ReadError(str(connection.error) or type(connection.error).__name__)
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if self._transport.is_closing():
            raise httpcore.WriteError("The connection is closed")
        self._transport.write(buffer)
        try:
            async with asyncio.timeout(timeout):
                await self._connection.writable()
        except TimeoutError:
            raise httpcore.WriteTimeout(f"Could not send within {timeout}s") from None
        if self._connection.error is not None:
            raise httpcore.WriteError(str(self._connection.error))

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._connection, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError:
            self._transport.abort()
            raise httpcore.ConnectTimeout(f"TLS handshake took longer than {timeout}s") from None
        except (OSError, ssl.SSLError) as exc:
            self._transport.abort()
            raise httpcore.ConnectError(str(exc)) from None
        if transport is None:  # the connection was lost during the handshake
            raise httpcore.ConnectError("The connection closed during the TLS handshake")
        self._connection.transport = transport  # flow control now goes through TLS
        return AsyncioStream(transport, self._connection)

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":  # asked of idle connections: did the server close it?
            return bool(self._connection.received) or self._connection.closed
        name = {
            "ssl_object": "ssl_object",
            "client_addr": "sockname",
            "server_addr": "peername",
            "socket": "socket",
        }.get(info)
        return None if name is None else self._transport.get_extra_info(name)


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections on the running loop, racing a name's addresses (Happy Eyeballs,
    RFC 8305, as AnyIO does) so that a broken IPv6 route costs 250 ms, not a connect timeout."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        options = list(socket_options or ())

        def new_socket(address: AddrInfoType) -> socket.socket:
            family, kind, proto, *_ = address
            sock = socket.socket(family, kind, proto)
            for option in options:
                sock.setsockopt(*option)
            return sock

        try:
            async with asyncio.timeout(timeout):
                addresses = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                local = None
                if local_address:
                    local = await loop.getaddrinfo(local_address, 0, type=socket.SOCK_STREAM)
                sock = await aiohappyeyeballs.start_connection(
                    addresses,
                    local_addr_infos=local,
                    happy_eyeballs_delay=0.25,
                    interleave=1,
                    socket_factory=new_socket,
                )
                try:
                    transport, connection = await loop.create_connection(_Connection, sock=sock)
                except BaseException:
                    sock.close()
                    raise
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"Connecting to {host}:{port} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from None
        return AsyncioStream(transport, connection)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class BackendTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over an httpcore pool that connects through `backend`.

    AsyncHTTPTransport has no parameter for httpcore's network backend, so instead of calling
    its __init__ (which would build a pool of its own) this builds the pool with what httpx
    passes by default: its SSL context and `limits`, HTTP/1.1, no proxy, no Unix socket. The
    parent's request handling and error mapping use `self._pool`.
    """

    def __init__(self, backend: httpcore.AsyncNetworkBackend, limits: httpx.Limits) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


def operator_client(timeout: float = 30.0) -> httpx.AsyncClient:
    """The client for operator-configured services (Telegram, Slack), not following redirects.

    Environment proxies (HTTP(S)_PROXY, NO_PROXY) keep working: httpx mounts them on more
    specific URL patterns than `all://`, so only direct connections go through this transport.
    """
    return httpx.AsyncClient(
        mounts={"all://": BackendTransport(AsyncioBackend(), httpx.Limits())},
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
    )
