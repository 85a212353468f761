"""Which addresses a user-configured destination may reach, and resolving a name to them.

Loopback, private, link-local, site-local, multicast, unspecified, reserved and every other
non-global address is refused, including IPv4 addresses carried inside IPv6 ones (mapped,
6to4, Teredo, NAT64), unless the host is named in OCTIPUS_FORWARD_ALLOW_HOSTS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable

from octipus.net.http import HttpConnectError, HttpTimeout

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# How a name is turned into addresses: (host, port, timeout) -> every address, in order.
Resolve = Callable[[str, int, float | None], Awaitable[list[IPAddress]]]
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
ALLOW_HINT = "add the host to OCTIPUS_FORWARD_ALLOW_HOSTS to allow it"


class BlockedDestination(Exception):
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
            (
                "site-local",
                isinstance(candidate, ipaddress.IPv6Address) and candidate.is_site_local,
            ),
            ("multicast", candidate.is_multicast),
            ("unspecified", candidate.is_unspecified),
            ("reserved", candidate.is_reserved),
            ("private", candidate.is_private),
            ("non-public", not candidate.is_global),
        ):
            if flag:
                return reason
    return None


def is_allowed_host(host: str, allow_hosts: frozenset[str]) -> bool:
    """Whether the operator allowed `host` (a name or an IP literal, brackets optional)."""
    host = host.strip("[]").lower()
    return host in allow_hosts or f"[{host}]" in allow_hosts


def refusal(ip: IPAddress, host: str, allow_hosts: frozenset[str]) -> BlockedDestination | None:
    """The error for connecting to `ip` as `host` (a name, or the literal itself); None if
    the address is public or the host is allowed."""
    reason = blocked_reason(ip)
    if reason is None or is_allowed_host(host, allow_hosts):
        return None
    named = "" if host.strip("[]").lower() == str(ip) else f" (host {host})"
    return BlockedDestination(f"Refusing to connect to {ip}{named}: {reason} address; {ALLOW_HINT}")


async def resolve_host(host: str, port: int, timeout: float | None) -> list[IPAddress]:
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
    resolver: Resolve = resolve_host,
) -> list[IPAddress]:
    """The addresses `host` resolves to (a literal IP as is), all public unless it is allowed.

    Raises BlockedDestination naming the first non-public address; HttpConnectError when the
    name does not resolve, HttpTimeout when resolving outlasts `timeout`.
    """
    host = host.strip("[]").lower()
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:  # a name, or a form such as `127.1` that the resolver reads for us
        literal = None
    addresses = [literal] if literal is not None else await resolver(host, port, timeout)
    for ip in addresses:
        error = refusal(ip, host, allow_hosts)
        if error is not None:
            raise error
    return addresses
