"""Raw HTTP/1.1 on sockets: a minimal server, and a client that sends bytes as they are.

The server (asyncio streams, for tests of the HTTP client and the SSRF guard): unlike `Receiver`
it runs in the test's own event loop and sees the connections themselves: how many were opened,
the TLS server name (SNI) each asked for, and the raw request heads. It can close a connection
after answering without saying so, as servers do when their keep-alive ends, and it can make a
self-signed certificate for any names.

The client (blocking sockets, for tests of Octipus's own HTTP limits): requests no HTTP library
would send, such as oversized heads, or bytes trickled slowly.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass
class Request:
    head: bytes  # request line and headers, as received
    body: bytes

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower().encode():
                return value.strip().decode()
        return None


@dataclass
class RawServer:
    port: int
    answer_body: bytes = b"ok"
    close_after_answer: bool = False
    connections: int = 0
    server_names: list[str | None] = field(default_factory=list)  # SNI, one per TLS handshake
    requests: list[Request] = field(default_factory=list)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request = Request(head, b"")
                length = int(request.header("content-length") or 0)
                request.body = await reader.readexactly(length) if length else b""
                self.requests.append(request)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                    + f"Content-Length: {len(self.answer_body)}\r\n\r\n".encode()
                    + self.answer_body
                )
                await writer.drain()
                if self.close_after_answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@asynccontextmanager
async def raw_server(
    *,
    answer_body: bytes = b"ok",
    close_after_answer: bool = False,
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[RawServer]:
    """Serve on 127.0.0.1 until the block ends; with `tls`, record each handshake's SNI."""
    state = RawServer(0, answer_body, close_after_answer)
    if tls is not None:

        def record(_: ssl.SSLObject, name: str | None, __: ssl.SSLContext) -> None:
            state.server_names.append(name)

        tls.sni_callback = record  # type: ignore[assignment]
    server = await asyncio.start_server(state.serve, "127.0.0.1", 0, ssl=tls)
    state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield state


def self_signed(directory: Path, *names: str) -> tuple[Path, Path]:
    """A self-signed certificate valid for DNS `names`, and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    alt_names = ",".join(f"DNS:{name}" for name in names)
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "1", "-subj", f"/CN={names[0]}"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-addext", f"subjectAltName={alt_names}", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def tls_contexts(cert: Path, key: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """The server's context for `cert`, and a client context that trusts only `cert`."""
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    return server_side, ssl.create_default_context(cafile=str(cert))


def connect(port: int) -> socket.socket:
    """A blocking connection to 127.0.0.1:`port`."""
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def send_all(sock: socket.socket, data: bytes) -> None:
    """Send `data`; the server may stop reading and close part-way, which is not an error here."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(data)


def answer(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """What the server sends until it closes the connection (at most `timeout` seconds)."""
    received = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"the connection was still open after {timeout}s: got {received!r}")


def trickle(sock: socket.socket, piece: bytes, every: float, timeout: float) -> bytes:
    """Send `piece` every `every` seconds until the server answers and closes; return the answer.

    Fails if the connection is still open after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(every)
        try:
            first = sock.recv(65536)
        except TimeoutError:
            send_all(sock, piece)
            continue
        except ConnectionResetError:
            return b""
        return first + answer(sock, max(1.0, deadline - time.monotonic())) if first else b""
    raise AssertionError(f"the connection was still open after {timeout}s of trickling")
