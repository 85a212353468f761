"""The SSRF guard for outbound requests whose URL comes from user config (forward, http tool).

The host is resolved once, every address it resolves to must be public, and the request is sent
to that checked address (the original name travels in `Host` and TLS SNI), so a DNS answer that
changes between check and connect cannot reach an internal address. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx

from octipus.actions.base import ActionError

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


async def _resolve(host: str, port: int, timeout: float) -> list[IPAddress]:
    """Every address `host` resolves to; transport errors (httpx) when it does not resolve."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
        )
    except TimeoutError:
        raise httpx.ConnectTimeout(f"Resolving {host} timed out") from None
    except socket.gaierror as exc:
        raise httpx.ConnectError(f"Cannot resolve host {host}: {exc.strerror}") from None
    addresses: list[IPAddress] = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    return addresses


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
    allow_hosts: frozenset[str],
) -> httpx.Response:
    """Send one request to a public address (or an allow-listed host), never following redirects.

    Raises BlockedDestination before connecting anywhere it must not; httpx transport errors
    (including a host that does not resolve) propagate for the caller to classify.
    """
    target = _parse(url)
    host = target.raw_host.decode("ascii").strip("[]").lower()
    send_headers = dict(headers or {})
    extensions: dict[str, str] = {}
    if host not in allow_hosts and f"[{host}]" not in allow_hosts:
        port = target.port or (443 if target.scheme == "https" else 80)
        addresses = await _resolve(host, port, timeout)
        for ip in addresses:
            reason = blocked_reason(ip)
            if reason is not None:
                named = "" if str(ip) == host else f" (host {host})"
                raise BlockedDestination(
                    f"Refusing to connect to {ip}{named}: {reason} address; {_ALLOW_HINT}"
                )
        send_headers = {k: v for k, v in send_headers.items() if k.lower() != "host"}
        send_headers["Host"] = target.netloc.decode("ascii")
        if target.scheme == "https":
            extensions["sni_hostname"] = host
        target = target.copy_with(host=str(addresses[0]))
    return await http.request(
        method,
        target,
        headers=send_headers,
        content=content,
        timeout=timeout,
        follow_redirects=False,
        extensions=extensions or None,
    )
