"""The guarded HTTP client for outbound requests whose URL comes from user config (forwards,
the http tool).

`guarded_client` resolves through `GuardedResolver`: every new connection resolves its host once,
refuses it if any address is not public (unless the host is in `allow_hosts`), and aiohttp then
connects only to those checked addresses, so a DNS answer that changes between check and connect
cannot reach an internal address. TLS (SNI, the certificate check), the Host header and the
connection pool stay keyed on the hostname. aiohttp does not ask the resolver about IP literals,
so `GuardedClient.request` checks a literal host itself (a literal cannot rebind). Non-HTTP URLs
are refused up front; redirects are never followed; environment proxies are ignored.
"""

from __future__ import annotations

import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from octipus.net.addresses import BlockedDestination, Resolve, checked_addresses, resolve_host
from octipus.net.http import HttpClient, Reply


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver for the guarded client: only checked addresses come out of it.

    A refusal (BlockedDestination) or a name that does not resolve (HttpConnectError) is
    raised as is: aiohttp wraps only OSError from a resolver, and ours are not OSErrors.
    aiohttp caches the answers for 10 s per host and port (its DNS cache) and rotates through
    them; that is safe because every cached answer was checked when it was resolved.
    """

    def __init__(
        self, allow_hosts: frozenset[str], timeout: float | None, resolve: Resolve = resolve_host
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
        resolve: Resolve = resolve_host,
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
    return GuardedClient(allow_hosts, timeout=timeout, resolve=resolver or resolve_host, **kwargs)


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
