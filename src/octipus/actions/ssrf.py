"""The SSRF guard for outbound requests whose URL comes from user config (forward, http tool).

`guarded_client` resolves through `GuardedResolver`: every new connection resolves its host once,
refuses it if any address is not public (unless the host is in `allow_hosts`), and aiohttp then
connects only to those checked addresses, so a DNS answer that changes between check and connect
cannot reach an internal address. TLS (SNI, the certificate check), the Host header and the
connection pool stay keyed on the hostname. aiohttp does not ask the resolver about IP literals,
so `GuardedClient.request` checks a literal host itself (a literal cannot rebind). Non-HTTP URLs
are refused up front; redirects are never followed; environment proxies are ignored.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from octipus.actions.base import ActionError
from octipus.http_client import HttpClient, HttpConnectError, HttpTimeout, Reply

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# How a name is turned into addresses: (host, port, timeout) -> every address, in order.
Resolve = Callable[[str, int, float | None], Awaitable[list[IPAddress]]]
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
        raise HttpTimeout(f"Resolving {host} timed out") from None
    except socket.gaierror as exc:
        raise HttpConnectError(f"Cannot resolve host {host}: {exc.strerror}") from None
    addresses: list[IPAddress] = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise HttpConnectError(f"Cannot resolve host {host}: no addresses")
    return addresses


async def checked_addresses(
    host: str,
    port: int,
    timeout: float | None,
    allow_hosts: frozenset[str],
    resolve: Resolve = _resolve,
) -> list[IPAddress]:
    """The addresses `host` resolves to (a literal IP as is), all public unless it is allowed.

    Raises BlockedDestination naming the first non-public address; HttpConnectError when the
    name does not resolve, HttpTimeout when resolving outlasts `timeout`.
    """
    host = host.strip("[]").lower()
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    addresses = [literal] if literal is not None else await resolve(host, port, timeout)
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


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver for the guarded client: only checked addresses come out of it.

    A refusal (BlockedDestination) or a name that does not resolve (HttpConnectError) is
    raised as is: aiohttp wraps only OSError from a resolver, and ours are not OSErrors.
    aiohttp caches the answers for 10 s per host and port (its DNS cache) and rotates through
    them; that is safe because every cached answer was checked when it was resolved.
    """

    def __init__(
        self, allow_hosts: frozenset[str], timeout: float | None, resolve: Resolve = _resolve
    ) -> None:
        self.allow_hosts = allow_hosts
        self.timeout = timeout  # a backstop: the request's own timeout also covers resolving
        self._resolve = resolve

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await checked_addresses(
            host, port, self.timeout, self.allow_hosts, self._resolve
        )
        return [
            {
                "hostname": host,
                "host": str(ip),
                "port": port,
                "family": socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                "proto": socket.IPPROTO_TCP,
                "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            }
            for ip in addresses
            if not family or family == (socket.AF_INET6 if ip.version == 6 else socket.AF_INET)
        ]

    async def close(self) -> None:
        return None


def _skips_resolver(host: str) -> bool:
    """Whether aiohttp connects to `host` without asking the resolver: it takes anything with a
    colon or only digits and dots for an IP address (`127.1` included, which sockets read as
    127.0.0.1), so the guard checks all of those itself; `checked_addresses` resolves the
    non-canonical ones to the address a socket would use."""
    return ":" in host or host.replace(".", "").isdigit()


class GuardedClient(HttpClient):
    """An HttpClient that reaches only public addresses, or hosts in `allow_hosts`."""

    def __init__(
        self,
        allow_hosts: frozenset[str],
        *,
        timeout: float = 30.0,
        resolve: Resolve = _resolve,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            timeout=timeout,
            resolver=GuardedResolver(allow_hosts, timeout, resolve),
            trust_env=False,  # an environment proxy would make the connections instead
            **kwargs,
        )
        self.allow_hosts = allow_hosts
        self._resolve = resolve

    async def request(self, method: str, url: str | URL, **kwargs: Any) -> Reply:
        """Refuse non-HTTP URLs and internal literal addresses, then send as HttpClient does.

        Raises BlockedDestination before connecting anywhere it must not.
        """
        target = _parse(url)
        host = target.raw_host or ""
        if _skips_resolver(host):
            timeout = kwargs.get("timeout") or self.timeout
            await checked_addresses(
                host, target.port or 0, timeout, self.allow_hosts, self._resolve
            )
        return await super().request(method, target, **kwargs)


def guarded_client(
    allow_hosts: frozenset[str],
    *,
    timeout: float = 30.0,
    resolver: Resolve | None = None,
    **kwargs: Any,
) -> GuardedClient:
    """A client for user-configured URLs: it reaches only public addresses or `allow_hosts`.

    `resolver` replaces the system's name lookup (tests); its answers are checked the same way.
    Other keyword arguments go to HttpClient (`ssl_context`, for tests).
    """
    return GuardedClient(allow_hosts, timeout=timeout, resolve=resolver or _resolve, **kwargs)


def _parse(url: str | URL) -> URL:
    try:
        target = url if isinstance(url, URL) else URL(url)
    except (ValueError, TypeError) as exc:
        raise BlockedDestination(f"Invalid URL {url!r}: {exc}") from None
    if target.scheme not in ("http", "https"):
        raise BlockedDestination(f"Only http and https URLs are allowed, not {target.scheme!r}")
    if not target.raw_host:
        raise BlockedDestination(f"URL {url!r} has no host")
    return target


async def send_guarded(
    http: GuardedClient,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    timeout: float,
) -> Reply:
    """Send one request with a `guarded_client`, never following redirects.

    Raises BlockedDestination before connecting anywhere it must not; HttpError when there is
    no answer (including a host that does not resolve) for the caller to classify.
    """
    return await http.request(method, url, headers=headers, content=content, timeout=timeout)
