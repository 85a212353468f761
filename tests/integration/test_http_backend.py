"""The asyncio network backend under httpx: requests, kept-alive connections, closed idle
connections, timeouts, refusals and TLS, against real servers on loopback ports."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpcore
import httpx
import pytest

from octipus.http_backend import AsyncioBackend, BackendTransport
from tests.support.receiver import Receiver, Reply

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=BackendTransport(AsyncioBackend(), httpx.Limits()))


@asynccontextmanager
async def answering_server(
    close_after_answer: bool, tls: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[int, list[int]]]:
    """An HTTP/1.1 server on asyncio streams that answers every GET with `ok`; yields its port
    and a list that grows by one per connection. It may close each connection after answering
    without saying so (no `Connection: close`), as servers do when their keep-alive ends."""
    connections: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(ANSWER)
                await writer.drain()
                if close_after_answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls)
    async with server:
        yield server.sockets[0].getsockname()[1], connections


async def test_requests_and_answers_round_trip_over_one_kept_alive_connection():
    big_request, big_answer = b"q" * 300_000, b"a" * 1_000_000
    with Receiver() as receiver:
        receiver.default = Reply(body=big_answer, headers={"Content-Type": "text/plain"})
        async with client() as http:
            answers = [await http.post(f"{receiver.url}/in", content=big_request) for _ in range(2)]
            pooled = http._transport._pool.connections  # type: ignore[attr-defined]
    assert [a.content for a in answers] == [big_answer, big_answer]
    assert [r.body for r in receiver.requests("/in")] == [big_request, big_request]
    assert len(pooled) == 1


async def test_an_idle_connection_the_server_closed_is_replaced_not_reused():
    async with answering_server(close_after_answer=True) as (port, connections), client() as http:
        first = await http.get(f"http://127.0.0.1:{port}/")
        pool = http._transport._pool  # type: ignore[attr-defined]
        for _ in range(500):  # until the loop delivered the server's end of the stream
            if all(c.has_expired() for c in pool.connections):
                break
            await asyncio.sleep(0.01)
        second = await http.get(f"http://127.0.0.1:{port}/")
    assert (first.text, second.text) == ("ok", "ok")
    assert len(connections) == 2


async def test_a_slow_answer_is_a_read_timeout():
    with Receiver() as receiver:
        receiver.script("/slow", Reply(delay=10))
        async with client() as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.get(f"{receiver.url}/slow", timeout=0.2)


async def test_a_refused_connection_is_a_connect_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/")


async def test_a_name_is_reached_on_its_next_address_when_the_first_refuses(monkeypatch):
    loop = asyncio.get_running_loop()

    async def resolve(host, port, *args, **kwargs):  # a refused address first (nothing there)
        assert host == "service.test"
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in ("127.0.0.2", "127.0.0.1")
        ]

    monkeypatch.setattr(loop, "getaddrinfo", resolve)
    async with answering_server(close_after_answer=False) as (port, _), client() as http:
        answer = await http.get(f"http://service.test:{port}/")
    assert answer.text == "ok"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for `localhost` and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=localhost"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_tls_connections_verify_the_server_by_its_hostname(certificate):
    cert, key = certificate
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    async with answering_server(close_after_answer=False, tls=server_side) as (port, _):
        async with httpcore.AsyncConnectionPool(
            ssl_context=trusting, network_backend=AsyncioBackend()
        ) as pool:
            answer = await pool.request("GET", f"https://localhost:{port}/")
        async with httpcore.AsyncConnectionPool(network_backend=AsyncioBackend()) as pool:
            with pytest.raises(httpcore.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await pool.request("GET", f"https://localhost:{port}/")
    assert (answer.status, answer.content) == (200, b"ok")
