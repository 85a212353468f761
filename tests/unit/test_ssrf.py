"""The SSRF guard: private destinations refused before connecting; connections go to the
checked address while TLS, the Host header and the connection pool keep the hostname."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

import httpcore
import httpx
import pytest

from octipus.actions.ssrf import (
    BlockedDestination,
    blocked_reason,
    guarded_client,
    send_guarded,
)
from tests.support.receiver import Receiver, Reply

NOTHING_ALLOWED: frozenset[str] = frozenset()
LOOPBACK_ALLOWED = frozenset({"127.0.0.1"})


class NoConnections(httpcore.AsyncNetworkBackend):
    """Fails the test if the guard lets a connection through."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AssertionError(f"the guard connected to {host}:{port}")


class FakeServer(httpcore.AsyncNetworkBackend):
    """Answers 204 to every request without touching the network, recording what it saw."""

    def __init__(self, unreachable: frozenset[str] = frozenset()) -> None:
        self.unreachable = unreachable
        self.connections: list[tuple[str, int]] = []
        self.tls_names: list[str | None] = []
        self.received = bytearray()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if host in self.unreachable:
            raise httpcore.ConnectError(f"{host} is unreachable")
        self.connections.append((host, port))
        return FakeConnection(self)


class FakeConnection(httpcore.AsyncNetworkStream):
    def __init__(self, server: FakeServer) -> None:
        self.server = server

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return b"HTTP/1.1 204 No Content\r\n\r\n"

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.server.received += buffer

    async def aclose(self) -> None:
        return None

    async def start_tls(
        self, ssl_context: object, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        self.server.tls_names.append(server_hostname)
        return self

    def get_extra_info(self, info: str) -> None:
        return None


class RecordingBackend(httpcore.AnyIOBackend):
    """Real connections, recording the address each one was opened to."""

    def __init__(self) -> None:
        self.connections: list[tuple[str, int]] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connections.append((host, port))
        return await super().connect_tcp(host, port, timeout, local_address, socket_options)


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
    """Make the running loop resolve names from `answers` (no network in tests)."""
    loop = asyncio.get_running_loop()

    async def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    "address,reason",
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-public"),
        ("fd00::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:a00:1::1", "private"),  # 6to4 wrapping 10.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 wrapping 169.254.169.254
    ],
)
def test_internal_addresses_are_blocked_with_their_kind(address: str, reason: str):
    assert blocked_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str):
    assert blocked_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url,named",
    [
        ("http://127.0.0.1:9/", "127.0.0.1"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://10.0.0.1/hook", "10.0.0.1"),
        ("https://[::1]/", "::1"),
        ("http://[::ffff:10.0.0.1]/", "::ffff:a00:1"),
    ],
)
async def test_literal_internal_addresses_are_refused_before_connecting(url: str, named: str):
    async with guarded_client(NOTHING_ALLOWED, connect_with=NoConnections()) as http:
        with pytest.raises(BlockedDestination, match=named):
            await send_guarded(http, "POST", url, timeout=5)


async def test_a_name_resolving_to_an_internal_address_is_refused_naming_both(monkeypatch):
    fake_dns(monkeypatch, {"metadata.internal": ["169.254.169.254"]})
    async with guarded_client(NOTHING_ALLOWED, connect_with=NoConnections()) as http:
        with pytest.raises(BlockedDestination, match=r"169\.254\.169\.254 \(host metadata"):
            await send_guarded(http, "GET", "http://metadata.internal/", timeout=5)


async def test_a_name_with_any_internal_address_among_its_answers_is_refused(monkeypatch):
    fake_dns(monkeypatch, {"mixed.example.com": ["93.184.216.34", "10.1.2.3"]})
    async with guarded_client(NOTHING_ALLOWED, connect_with=NoConnections()) as http:
        with pytest.raises(BlockedDestination, match=r"10\.1\.2\.3"):
            await send_guarded(http, "GET", "http://mixed.example.com/", timeout=5)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/"])
async def test_non_http_schemes_are_refused(url: str):
    async with guarded_client(NOTHING_ALLOWED, connect_with=NoConnections()) as http:
        with pytest.raises(BlockedDestination, match="Only http and https"):
            await send_guarded(http, "GET", url, timeout=5)


async def test_the_connection_goes_to_the_checked_ip_while_tls_and_host_name_the_host(
    monkeypatch,
):
    fake_dns(monkeypatch, {"hooks.example.com": ["93.184.216.34"]})
    server = FakeServer()
    async with guarded_client(NOTHING_ALLOWED, connect_with=server) as http:
        response = await send_guarded(
            http,
            "POST",
            "https://hooks.example.com:8443/in?x=1",
            headers={"X-Test": "1"},
            content=b"{}",
            timeout=5,
        )
    assert response.status_code == 204
    assert server.connections == [("93.184.216.34", 8443)]
    assert server.tls_names == ["hooks.example.com"]
    assert b"POST /in?x=1 HTTP/1.1\r\nHost: hooks.example.com:8443\r\n" in server.received
    assert b"\r\nX-Test: 1\r\n" in server.received


async def test_two_hostnames_on_one_ip_get_separate_tls_connections(monkeypatch):
    fake_dns(monkeypatch, {"a.example.com": ["93.184.216.34"], "b.example.com": ["93.184.216.34"]})
    server = FakeServer()
    async with guarded_client(NOTHING_ALLOWED, connect_with=server) as http:
        for host in ("a.example.com", "b.example.com", "a.example.com"):
            response = await send_guarded(http, "POST", f"https://{host}/in", timeout=5)
            assert response.status_code == 204
    assert server.connections == [("93.184.216.34", 443)] * 2  # the second a.example.com reuses
    assert server.tls_names == ["a.example.com", "b.example.com"]


async def test_an_unreachable_address_falls_back_to_the_next_checked_one(monkeypatch):
    fake_dns(monkeypatch, {"two.example.com": ["2606:4700:4700::1111", "93.184.216.34"]})
    server = FakeServer(unreachable=frozenset({"2606:4700:4700::1111"}))
    async with guarded_client(NOTHING_ALLOWED, connect_with=server) as http:
        response = await send_guarded(http, "GET", "http://two.example.com/", timeout=5)
    assert response.status_code == 204
    assert server.connections == [("93.184.216.34", 80)]


async def test_names_sharing_an_address_reach_the_receiver_on_their_own_connections(
    monkeypatch, receiver: Receiver
):
    fake_dns(monkeypatch, {"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]})
    port = httpx.URL(receiver.url).port
    backend = RecordingBackend()
    async with guarded_client(frozenset({"a.test", "b.test"}), connect_with=backend) as http:
        for host in ("a.test", "b.test"):
            response = await send_guarded(http, "GET", f"http://{host}:{port}/in", timeout=5)
            assert response.status_code == 200
    assert backend.connections == [("127.0.0.1", port)] * 2
    assert [r.headers["host"] for r in receiver.requests("/in")] == [
        f"a.test:{port}",
        f"b.test:{port}",
    ]


async def test_an_unresolvable_host_is_a_connect_error_for_the_caller(monkeypatch):
    fake_dns(monkeypatch, {})
    async with guarded_client(NOTHING_ALLOWED, connect_with=NoConnections()) as http:
        with pytest.raises(httpx.ConnectError, match=r"Cannot resolve host nowhere\.example"):
            await send_guarded(http, "GET", "http://nowhere.example/", timeout=5)


async def test_a_resolver_that_never_answers_is_a_connect_timeout(monkeypatch):
    async def getaddrinfo(*args, **kwargs):
        await asyncio.Event().wait()

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    async with guarded_client(NOTHING_ALLOWED, connect_with=NoConnections()) as http:
        with pytest.raises(httpx.ConnectTimeout, match=r"Resolving slow\.example timed out"):
            await send_guarded(http, "GET", "http://slow.example/", timeout=0.1)


async def test_an_allow_listed_host_is_reached(receiver: Receiver):
    async with guarded_client(LOOPBACK_ALLOWED) as http:
        response = await send_guarded(
            http, "POST", f"{receiver.url}/in", content=b"hello", timeout=5
        )
    assert response.status_code == 200
    [received] = receiver.requests("/in")
    assert received.body == b"hello"


async def test_redirects_are_returned_not_followed(receiver: Receiver):
    receiver.script("/moved", Reply(302, b"", {"Location": f"{receiver.url}/target"}))
    async with guarded_client(LOOPBACK_ALLOWED) as http:
        response = await send_guarded(http, "GET", f"{receiver.url}/moved", timeout=5)
    assert response.status_code == 302
    assert receiver.requests("/target") == []
