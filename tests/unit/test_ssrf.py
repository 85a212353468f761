"""The SSRF guard: private destinations refused before connecting; connections go to the
checked address while TLS, the Host header and the connection pool keep the hostname."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from pathlib import Path
from typing import Any

import aiohappyeyeballs
import pytest

from octipus.net.addresses import BlockedDestination, IPAddress, blocked_reason
from octipus.net.guarded import guarded_client
from octipus.net.http import HttpConnectError, HttpTimeout
from tests.support.raw_http import raw_server, self_signed, tls_contexts
from tests.support.receiver import Receiver, Reply

NOTHING_ALLOWED: frozenset[str] = frozenset()
LOOPBACK_ALLOWED = frozenset({"127.0.0.1"})


class Dialer:
    """Stands in for the socket connect under aiohttp (aiohappyeyeballs.start_connection):
    records the addresses aiohttp asks for, and connects them all to one local server instead,
    so that public addresses can be "reached" without a network. Addresses in `unreachable`
    are refused; without a `port` every connection fails the test."""

    def __init__(self, port: int | None = None, unreachable: frozenset[str] = frozenset()):
        self.port = port
        self.unreachable = unreachable
        self.connected: list[tuple[str, int]] = []

    async def start_connection(self, addr_infos: list[Any], **kwargs: Any) -> socket.socket:
        for _family, _type, _proto, _name, address in addr_infos:
            if self.port is None:
                raise AssertionError(f"the guard connected to {address[:2]}")
            if address[0] in self.unreachable:
                continue
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.port))
            self.connected.append((address[0], address[1]))
            return sock
        raise OSError(errno.ECONNREFUSED, "Connection refused")


def dialer(monkeypatch: pytest.MonkeyPatch, *args: Any, **kwargs: Any) -> Dialer:
    fake = Dialer(*args, **kwargs)
    monkeypatch.setattr(aiohappyeyeballs, "start_connection", fake.start_connection)
    return fake


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


@pytest.fixture
def tls(tmp_path: Path):
    """A server context for a certificate naming the test hosts, and a client trusting it."""
    return tls_contexts(
        *self_signed(tmp_path, "hooks.example.com", "a.example.com", "b.example.com")
    )


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
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "private"),  # Teredo, client 192.0.2.45
        ("fec0::1", "site-local"),  # deprecated, yet Python counts it as global
        ("::127.0.0.1", "reserved"),  # IPv4-compatible (deprecated)
        ("198.18.0.1", "private"),  # benchmarking
        ("255.255.255.255", "reserved"),  # broadcast
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
        ("http://[::ffff:10.0.0.1]/", r"::ffff:(a00:1|10\.0\.0\.1)"),  # 3.13 prints the IPv4 form
        # Forms aiohttp takes for IP literals (so it skips the resolver) and sockets accept.
        ("http://127.1/", r"127\.0\.0\.1 \(host 127\.1\)"),
        ("http://2130706433/", r"127\.0\.0\.1 \(host 2130706433\)"),
    ],
)
async def test_literal_internal_addresses_are_refused_before_connecting(
    monkeypatch, url: str, named: str
):
    dialer(monkeypatch)
    async with guarded_client(NOTHING_ALLOWED) as http:
        with pytest.raises(BlockedDestination, match=named):
            await http.request("POST", url, timeout=5)


async def test_a_name_resolving_to_an_internal_address_is_refused_naming_both(monkeypatch):
    fake_dns(monkeypatch, {"metadata.internal": ["169.254.169.254"]})
    dialer(monkeypatch)
    async with guarded_client(NOTHING_ALLOWED) as http:
        with pytest.raises(BlockedDestination, match=r"169\.254\.169\.254 \(host metadata"):
            await http.request("GET", "http://metadata.internal/", timeout=5)


async def test_a_name_with_any_internal_address_among_its_answers_is_refused(monkeypatch):
    fake_dns(monkeypatch, {"mixed.example.com": ["93.184.216.34", "10.1.2.3"]})
    dialer(monkeypatch)
    async with guarded_client(NOTHING_ALLOWED) as http:
        with pytest.raises(BlockedDestination, match=r"10\.1\.2\.3"):
            await http.request("GET", "http://mixed.example.com/", timeout=5)


async def test_concurrent_requests_to_a_refused_name_are_all_refused(monkeypatch):
    """aiohttp resolves a name once for concurrent requests and hands each the exception."""
    fake_dns(monkeypatch, {"metadata.internal": ["169.254.169.254"]})
    dialer(monkeypatch)
    async with guarded_client(NOTHING_ALLOWED) as http:
        outcomes = await asyncio.gather(
            *(http.request("GET", "http://metadata.internal/", timeout=5) for _ in range(3)),
            return_exceptions=True,
        )
    assert [type(o) for o in outcomes] == [BlockedDestination] * 3


async def test_an_injected_resolver_is_checked_the_same_way(monkeypatch):
    asked: list[tuple[str, int]] = []

    async def resolve(host: str, port: int, timeout: float | None) -> list[IPAddress]:
        asked.append((host, port))
        return [ipaddress.ip_address("10.0.0.7")]

    dialer(monkeypatch)
    async with guarded_client(NOTHING_ALLOWED, resolver=resolve) as http:
        with pytest.raises(BlockedDestination, match=r"10\.0\.0\.7 \(host rebind\.example"):
            await http.request("GET", "https://rebind.example/", timeout=5)
    assert asked == [("rebind.example", 443)]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/"])
async def test_non_http_schemes_are_refused(monkeypatch, url: str):
    dialer(monkeypatch)
    async with guarded_client(NOTHING_ALLOWED) as http:
        with pytest.raises(BlockedDestination, match="Only http and https"):
            await http.request("GET", url, timeout=5)


async def test_the_connection_goes_to_the_checked_ip_while_tls_and_host_name_the_host(
    monkeypatch, tls
):
    server_side, trusting = tls
    fake_dns(monkeypatch, {"hooks.example.com": ["93.184.216.34"]})
    async with raw_server(tls=server_side) as server:
        connections = dialer(monkeypatch, server.port)
        async with guarded_client(NOTHING_ALLOWED, ssl_context=trusting) as http:
            response = await http.request(
                "POST",
                "https://hooks.example.com:8443/in?x=1",
                headers={"X-Test": "1"},
                content=b"{}",
                timeout=5,
            )
    assert response.status == 200
    assert connections.connected == [("93.184.216.34", 8443)]
    assert server.server_names == ["hooks.example.com"]  # and the certificate was checked for it
    [request] = server.requests
    assert request.head.startswith(b"POST /in?x=1 HTTP/1.1\r\n")
    assert request.header("host") == "hooks.example.com:8443"
    assert request.header("x-test") == "1"
    assert request.body == b"{}"


async def test_two_hostnames_on_one_ip_get_separate_tls_connections(monkeypatch, tls):
    server_side, trusting = tls
    fake_dns(monkeypatch, {"a.example.com": ["93.184.216.34"], "b.example.com": ["93.184.216.34"]})
    async with raw_server(tls=server_side) as server:
        connections = dialer(monkeypatch, server.port)
        async with guarded_client(NOTHING_ALLOWED, ssl_context=trusting) as http:
            for host in ("a.example.com", "b.example.com", "a.example.com"):
                response = await http.request("POST", f"https://{host}/in", timeout=5)
                assert response.status == 200
    assert connections.connected == [("93.184.216.34", 443)] * 2  # the second a.example.com reuses
    assert server.server_names == ["a.example.com", "b.example.com"]
    assert server.connections == 2


async def test_an_unreachable_address_falls_back_to_the_next_checked_one(monkeypatch):
    fake_dns(monkeypatch, {"two.example.com": ["2606:4700:4700::1111", "93.184.216.34"]})
    async with raw_server() as server:
        connections = dialer(monkeypatch, server.port, frozenset({"2606:4700:4700::1111"}))
        async with guarded_client(NOTHING_ALLOWED) as http:
            response = await http.request("GET", "http://two.example.com/", timeout=5)
    assert response.status == 200
    assert connections.connected == [("93.184.216.34", 80)]


async def test_names_sharing_an_address_reach_a_real_server_on_their_own_connections(monkeypatch):
    fake_dns(monkeypatch, {"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]})
    async with raw_server() as server:
        port = server.port
        async with guarded_client(frozenset({"a.test", "b.test"})) as http:
            for host in ("a.test", "b.test", "a.test"):
                response = await http.request("GET", f"http://{host}:{port}/in", timeout=5)
                assert response.status == 200
    assert server.connections == 2
    assert [r.header("host") for r in server.requests] == [
        f"a.test:{port}",
        f"b.test:{port}",
        f"a.test:{port}",
    ]


async def test_an_unresolvable_host_is_a_connect_error_for_the_caller(monkeypatch):
    fake_dns(monkeypatch, {})
    dialer(monkeypatch)
    async with guarded_client(NOTHING_ALLOWED) as http:
        with pytest.raises(HttpConnectError, match=r"Cannot resolve host nowhere\.example"):
            await http.request("GET", "http://nowhere.example/", timeout=5)


async def test_a_resolver_that_never_answers_is_a_timeout(monkeypatch):
    async def getaddrinfo(*args, **kwargs):
        await asyncio.Event().wait()

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    dialer(monkeypatch)
    async with guarded_client(NOTHING_ALLOWED) as http:
        with pytest.raises(HttpTimeout, match=r"slow\.example:80 within 0\.1s"):
            await http.request("GET", "http://slow.example/", timeout=0.1)


async def test_an_allow_listed_host_is_reached(receiver: Receiver):
    async with guarded_client(LOOPBACK_ALLOWED) as http:
        response = await http.request("POST", f"{receiver.url}/in", content=b"hello", timeout=5)
    assert response.status == 200
    [received] = receiver.requests("/in")
    assert received.body == b"hello"


async def test_redirects_are_returned_not_followed(receiver: Receiver):
    receiver.script("/moved", Reply(302, b"", {"Location": f"{receiver.url}/target"}))
    async with guarded_client(LOOPBACK_ALLOWED) as http:
        response = await http.request("GET", f"{receiver.url}/moved", timeout=5)
    assert response.status == 302
    assert response.headers["location"] == f"{receiver.url}/target"
    assert receiver.requests("/target") == []


async def test_environment_proxies_are_ignored(monkeypatch, receiver: Receiver):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with guarded_client(LOOPBACK_ALLOWED) as http:
        response = await http.request("GET", f"{receiver.url}/in", timeout=5)
    assert response.status == 200
