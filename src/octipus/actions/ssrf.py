"""The SSRF guard for outbound requests whose URL comes from user config (forward, http tool).

`guarded_client` connects through `GuardedBackend`: every new connection resolves its host once,
refuses it if any address is not public, and connects to a checked address, so a DNS answer that
changes between check and connect cannot reach an internal address. httpcore then does TLS for
the hostname itself (SNI and certificate checks name the host) and pools connections by hostname.
`send_guarded` refuses non-HTTP URLs up front and never follows redirects.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterable

import httpcore
import httpx

from octipus.actions.base import ActionError
from octipus.http_backend import AsyncioBackend, BackendTransport

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_ALLOW_HINT = "add the host to OCTIPUS_FORWARD_ALLOW_HOSTS to allow it"


class BlockedDestination(ActionError):
    """The destination is not allowed: a non-HTTP scheme or a non-public address."""


def _embedded_ipv4(ip: IPAddress) -> list[IPAddress]:
    """IPv4 addresses carried inside an IPv6 one (mapped, 6to4, Teredo, NAT64)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found: list[IPAddress] = []
    if ip.ipv4_mapped:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour:
        found.append(ip.sixtofour)
    if ip.teredo:
        found.extend(ip.teredo)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def blocked_reason(ip: IPAddress) -> str | None:
    """Why `ip` must not be reached from user-configured URLs; None for a public address."""
    for candidate in (*_embedded_ipv4(ip), ip):  # the wrapped IPv4 names the real target
        for reason, flag in (
            ("loopback", candidate.is_loopback),
            ("link-local", candidate.is_link_local),
            ("multicast", candidate.is_multicast),
            ("unspecified", candidate.is_unspecified),
            ("reserved", candidate.is_reserved),
            ("private", candidate.is_private),
            ("non-public", not candidate.is_global),
        ):
            if flag:
                return reason
    return None


async def _resolve(host: str, port: int, timeout: float | None) -> list[IPAddress]:
    """Every address the name `host` resolves to, in the resolver's order."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
        )
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"Resolving {host} timed out") from None
    except socket.gaierror as exc:
        raise httpcore.ConnectError(f"Cannot resolve host {host}: {exc.strerror}") from None
    addresses: list[IPAddress] = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise httpcore.ConnectError(f"Cannot resolve host {host}: no addresses")
    return addresses


async def checked_addresses(
    host: str, port: int, timeout: float | None, allow_hosts: frozenset[str]
) -> list[IPAddress]:
    """The addresses `host` resolves to (a literal IP as is), all public unless it is allowed.

    Raises BlockedDestination naming the first non-public address; httpcore.ConnectError when
    the name does not resolve, httpcore.ConnectTimeout when resolving outlasts `timeout`.
    """
    host = host.strip("[]").lower()
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    addresses = [literal] if literal is not None else await _resolve(host, port, timeout)
    if host in allow_hosts or f"[{host}]" in allow_hosts:
        return addresses
    for ip in addresses:
        reason = blocked_reason(ip)
        if reason is not None:
            named = "" if literal is not None else f" (host {host})"
            raise BlockedDestination(
                f"Refusing to connect to {ip}{named}: {reason} address; {_ALLOW_HINT}"
            )
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to checked addresses of the requested host.

    `inner` makes the actual connections (http_backend.AsyncioBackend unless a test passes one).
    """

    def __init__(
        self, allow_hosts: frozenset[str], inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self.allow_hosts = allow_hosts
        self.inner = inner or AsyncioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        deadline = None if timeout is None else time.monotonic() + timeout
        *others, last = await checked_addresses(host, port, timeout, self.allow_hosts)

        async def connect(ip: IPAddress) -> httpcore.AsyncNetworkStream:
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            return await self.inner.connect_tcp(
                str(ip),
                port,
                timeout=remaining,
                local_address=local_address,
                socket_options=socket_options,
            )

        for ip in others:
            try:
                return await connect(ip)
            except httpcore.ConnectError:
                continue  # refused or unreachable: the next checked address may answer
        return await connect(last)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guarded_client(
    allow_hosts: frozenset[str],
    *,
    timeout: float = 30.0,
    connect_with: httpcore.AsyncNetworkBackend | None = None,
) -> httpx.AsyncClient:
    """A client for user-configured URLs: it reaches only public addresses or `allow_hosts`.

    `trust_env=False` because an environment proxy would make the connections instead.
    """
    return httpx.AsyncClient(
        transport=BackendTransport(GuardedBackend(allow_hosts, connect_with), httpx.Limits()),
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
    )


def _parse(url: str) -> httpx.URL:
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise BlockedDestination(f"Invalid URL {url!r}: {exc}") from None
    if target.scheme not in ("http", "https"):
        raise BlockedDestination(f"Only http and https URLs are allowed, not {target.scheme!r}")
    if not target.host:
        raise BlockedDestination(f"URL {url!r} has no host")
    return target


async def send_guarded(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    timeout: float,
) -> httpx.Response:
    """Send one request with a `guarded_client`, never following redirects.

    Raises BlockedDestination before connecting anywhere it must not; httpx transport errors
    (including a host that does not resolve) propagate for the caller to classify.
    """
    return await http.request(
        method,
        _parse(url),
        headers=headers,
        content=content,
        timeout=timeout,
        follow_redirects=False,
    )
