"""The SSRF guard: private destinations refused before any connection, checked IP pinned."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx
import pytest

from octipus.actions.ssrf import BlockedDestination, blocked_reason, send_guarded
from tests.support.receiver import Receiver, Reply

NOTHING_ALLOWED: frozenset[str] = frozenset()


class NoConnections(httpx.AsyncBaseTransport):
    """Fails the test if the guard lets a request through to the transport."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"the guard sent a request to {request.url}")


class Capture(httpx.AsyncBaseTransport):
    """Records what would go on the wire instead of connecting."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(204)


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
    async with httpx.AsyncClient(transport=NoConnections()) as http:
        with pytest.raises(BlockedDestination, match=named):
            await send_guarded(http, "POST", url, timeout=5, allow_hosts=NOTHING_ALLOWED)


async def test_a_name_resolving_to_an_internal_address_is_refused_naming_both(monkeypatch):
    fake_dns(monkeypatch, {"metadata.internal": ["169.254.169.254"]})
    async with httpx.AsyncClient(transport=NoConnections()) as http:
        with pytest.raises(BlockedDestination, match=r"169\.254\.169\.254 \(host metadata"):
            await send_guarded(
                http, "GET", "http://metadata.internal/", timeout=5, allow_hosts=NOTHING_ALLOWED
            )


async def test_a_name_with_any_internal_address_among_its_answers_is_refused(monkeypatch):
    fake_dns(monkeypatch, {"mixed.example.com": ["93.184.216.34", "10.1.2.3"]})
    async with httpx.AsyncClient(transport=NoConnections()) as http:
        with pytest.raises(BlockedDestination, match=r"10\.1\.2\.3"):
            await send_guarded(
                http, "GET", "http://mixed.example.com/", timeout=5, allow_hosts=NOTHING_ALLOWED
            )


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/"])
async def test_non_http_schemes_are_refused(url: str):
    async with httpx.AsyncClient(transport=NoConnections()) as http:
        with pytest.raises(BlockedDestination, match="Only http and https"):
            await send_guarded(http, "GET", url, timeout=5, allow_hosts=NOTHING_ALLOWED)


async def test_the_request_goes_to_the_checked_ip_with_the_original_host_and_sni(monkeypatch):
    fake_dns(monkeypatch, {"hooks.example.com": ["93.184.216.34"]})
    capture = Capture()
    async with httpx.AsyncClient(transport=capture) as http:
        await send_guarded(
            http,
            "POST",
            "https://hooks.example.com:8443/in?x=1",
            headers={"X-Test": "1"},
            content=b"{}",
            timeout=5,
            allow_hosts=NOTHING_ALLOWED,
        )
    [sent] = capture.requests
    assert sent.url == httpx.URL("https://93.184.216.34:8443/in?x=1")
    assert sent.headers["host"] == "hooks.example.com:8443"
    assert sent.extensions["sni_hostname"] == "hooks.example.com"
    assert sent.headers["x-test"] == "1"


async def test_an_unresolvable_host_is_a_transport_error_for_the_caller(monkeypatch):
    fake_dns(monkeypatch, {})
    async with httpx.AsyncClient(transport=NoConnections()) as http:
        with pytest.raises(httpx.ConnectError, match=r"Cannot resolve host nowhere\.example"):
            await send_guarded(
                http, "GET", "http://nowhere.example/", timeout=5, allow_hosts=NOTHING_ALLOWED
            )


async def test_an_allow_listed_host_is_reached(receiver: Receiver):
    async with httpx.AsyncClient() as http:
        response = await send_guarded(
            http,
            "POST",
            f"{receiver.url}/in",
            content=b"hello",
            timeout=5,
            allow_hosts=frozenset({"127.0.0.1"}),
        )
    assert response.status_code == 200
    [received] = receiver.requests("/in")
    assert received.body == b"hello"


async def test_redirects_are_returned_not_followed(receiver: Receiver):
    receiver.script("/moved", Reply(302, b"", {"Location": f"{receiver.url}/target"}))
    async with httpx.AsyncClient() as http:
        response = await send_guarded(
            http,
            "GET",
            f"{receiver.url}/moved",
            timeout=5,
            allow_hosts=frozenset({"127.0.0.1"}),
        )
    assert response.status_code == 302
    assert receiver.requests("/target") == []
