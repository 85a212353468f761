"""A minimal HTTP/1.1 server on asyncio streams, for tests of the HTTP client and the SSRF guard.

Unlike `Receiver` it runs in the test's own event loop and sees the connections themselves:
how many were opened, the TLS server name (SNI) each asked for, and the raw request heads. It
can close a connection after answering without saying so, as servers do when their keep-alive
ends, and it can make a self-signed certificate for any names.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
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
