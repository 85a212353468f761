"""The HTTP client for action traffic (forwards, the http tool, Telegram, Slack), on aiohttp.

httpx over httpcore cost ~1,000 µs of CPU per request with 20 in flight; aiohttp ~110 µs
(bench/README.md). Callers see only this module: `HttpClient.request` answers a `Reply` (the
body read, at most `max_body` bytes) or raises an `HttpError`, never an aiohttp exception.
`operator_client` is for operator-configured services (Telegram, Slack); the SSRF guard's
client for user-configured URLs is in net/guarded.py.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import re
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

import aiohttp
import httpx
import orjson
from aiohttp.abc import AbstractResolver
from aiohttp.helpers import get_env_proxy_for_url
from multidict import CIMultiDictProxy
from yarl import URL

MAX_BODY = 1024 * 1024  # bytes of a response kept by default
POOL_SIZE = 100  # connections at once, all hosts together (httpx's default too)
KEEPALIVE_SECONDS = 5.0  # how long an idle connection is kept for reuse
# RFC 9110 field names; aiohttp sends any name as given (h11, under httpx, refused bad ones).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class HttpError(Exception):
    """A request that got no answer. Messages name the host and port, never the URL's path or
    query (Telegram's path carries the bot token)."""


class HttpTimeout(HttpError):
    """No complete answer within the request's timeout (connecting included)."""


class HttpConnectError(HttpError):
    """No connection: refused, unreachable, a name that does not resolve, a TLS failure."""


class HttpProtocolError(HttpError):
    """The connection broke or the server answered something that is not HTTP."""


class HttpInvalidRequest(HttpError):
    """The request cannot be sent (a bad URL or header); sending it again will not help."""


@dataclass(frozen=True)
class Reply:
    """A response, read: `body` holds at most the client's `max_body` bytes (`truncated` if
    the server sent more)."""

    status: int
    reason: str
    headers: CIMultiDictProxy[str]
    body: bytes
    truncated: bool = False

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    @cached_property
    def text(self) -> str:
        """The body decoded with the content type's charset (else UTF-8), bad bytes replaced."""
        return self.body.decode(_charset(self.headers.get("content-type")), errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; ValueError if it is not JSON."""
        return orjson.loads(self.body)

    @property
    def redirect_note(self) -> str:
        """For a 3xx answer, a note that it was not followed and where it pointed; else ""."""
        if not 300 <= self.status < 400:
            return ""
        location = self.headers.get("location")
        return "; redirects are not followed" + (f" (Location: {location})" if location else "")


def _charset(content_type: str | None) -> str:
    if content_type:
        for parameter in content_type.split(";")[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "charset":
                charset = value.strip().strip("\"'")
                try:
                    return codecs.lookup(charset).name
                except LookupError:
                    break
    return "utf-8"


@cache
def default_ssl_context() -> ssl.SSLContext:
    """httpx's context, as Octipus used before aiohttp: SSL_CERT_FILE or SSL_CERT_DIR when set,
    else certifi's CA bundle."""
    return httpx.create_ssl_context()


def _where(url: URL) -> str:
    host = url.raw_host or "?"
    return f"[{host}]:{url.port}" if ":" in host else f"{host}:{url.port}"


def _os_reason(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, OSError) and exc.errno and not isinstance(exc, socket.gaierror):
        return os.strerror(exc.errno)  # "Connection refused", not "Connect call failed (…)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _translate(exc: Exception, url: URL, timeout: float) -> HttpError:
    """Our error for what aiohttp (or the loop) raised for a request to `url`."""
    where = _where(url)
    if isinstance(exc, TimeoutError):  # the total timeout, in whichever phase (resolving too)
        return HttpTimeout(f"No complete answer from {where} within {timeout:g}s")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return HttpConnectError(f"TLS certificate of {where} not accepted: {exc.certificate_error}")
    if isinstance(exc, aiohttp.ClientConnectorSSLError | aiohttp.ClientSSLError):
        return HttpConnectError(f"TLS handshake with {where} failed: {_os_reason(exc.os_error)}")
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return HttpConnectError(f"Cannot resolve host {url.raw_host}: {_os_reason(exc.os_error)}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return HttpConnectError(f"Cannot connect to {where}: {_os_reason(exc.os_error)}")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return HttpProtocolError(f"{where} closed the connection without a complete answer")
    if isinstance(exc, aiohttp.ClientResponseError):  # str() of these would show the URL
        lines = (line.strip() for line in str(exc.message).splitlines())  # parser errors draw
        detail = " ".join(line for line in lines if line.strip("^ "))  # a caret under the fault
        return HttpProtocolError(f"Invalid response from {where}: {detail}")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return HttpProtocolError(f"Incomplete response body from {where}: {exc}")
    if isinstance(exc, aiohttp.InvalidURL):
        return HttpInvalidRequest(
            f"Invalid URL for host {url.raw_host}" if url.raw_host else "Invalid URL: no host"
        )
    if isinstance(exc, aiohttp.ClientError | OSError):
        detail = _os_reason(exc) if isinstance(exc, OSError) else type(exc).__name__
        return HttpProtocolError(f"Connection to {where} failed: {detail}")
    if isinstance(exc, ValueError):  # aiohttp's checks of header names and values
        return HttpInvalidRequest(f"Request to {where} cannot be sent: {exc}")
    raise exc


class HttpClient:
    """One aiohttp session (a pool of up to `POOL_SIZE` connections), created on first use in
    the running loop: Runtime builds its clients before the loop runs in some paths.

    Redirects are never followed; responses are read whole (up to `max_body` bytes) before
    `request` returns. `trust_env=True` sends through HTTP(S)_PROXY unless NO_PROXY names
    the host, read once per scheme and host as httpx did (aiohttp's own `trust_env` would read
    the environment and ~/.netrc in a thread on every request). Cookies are never kept.
    """

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        resolver: AbstractResolver | None = None,
        trust_env: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.timeout = timeout
        self.trust_env = trust_env
        self._resolver = resolver
        self._ssl_context = ssl_context
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        # (scheme, host) -> the proxy from the environment and its Proxy-Authorization value
        self._proxies: dict[tuple[str, str | None], tuple[URL | None, str | None]] = {}

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("HttpClient is closed")
        connector = aiohttp.TCPConnector(
            limit=POOL_SIZE,
            keepalive_timeout=KEEPALIVE_SECONDS,
            ssl=self._ssl_context or default_ssl_context(),
            resolver=self._resolver,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            # aiohttp would add `Content-Type: application/octet-stream` to bodies without one.
            skip_auto_headers=("Content-Type",),
            trust_env=False,
        )
        return self._session

    async def _proxy(self, url: URL) -> tuple[URL | None, str | None]:
        key = (url.scheme, url.raw_host)
        if key not in self._proxies:
            try:
                proxy, auth = await asyncio.to_thread(get_env_proxy_for_url, url)
            except LookupError:
                self._proxies[key] = (None, None)
            else:
                self._proxies[key] = (proxy, None if auth is None else auth.encode())
        return self._proxies[key]

    async def request(
        self,
        method: str,
        url: str | URL,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        json: Any = None,
        timeout: float | None = None,
        max_body: int = MAX_BODY,
    ) -> Reply:
        """Send one request and read its answer; raise an HttpError if there is none."""
        timeout = self.timeout if timeout is None else timeout
        try:
            target = url if isinstance(url, URL) else URL(url)
        except (ValueError, TypeError) as exc:
            raise HttpInvalidRequest(f"Invalid URL: {exc}") from None
        if headers:
            for name in headers:
                if not _HEADER_NAME.fullmatch(name):
                    raise HttpInvalidRequest(f"Invalid header name {name!r}")
        if json is not None:
            content = orjson.dumps(json)
            if not headers or not any(name.lower() == "content-type" for name in headers):
                headers = {**(headers or {}), "Content-Type": "application/json"}
        session = self._session or self._open()
        proxy, proxy_headers = None, None
        if self.trust_env:
            proxy, proxy_auth = await self._proxy(target)
            if proxy_auth is not None:  # on the CONNECT for https, else on the request itself
                if target.scheme == "https":
                    proxy_headers = {"Proxy-Authorization": proxy_auth}
                else:
                    headers = {**(headers or {}), "Proxy-Authorization": proxy_auth}
        try:
            async with session.request(
                method,
                target,
                headers=headers,
                data=content,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout),
                proxy=proxy,
                proxy_headers=proxy_headers,
            ) as response:
                chunks: list[bytes] = []
                size = 0
                while chunk := await response.content.readany():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > max_body:
                        response.close()  # the rest is never read: the connection cannot be reused
                        break
                body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                return Reply(
                    status=response.status,
                    reason=response.reason or "",
                    headers=response.headers,
                    body=body[:max_body] if size > max_body else body,
                    truncated=size > max_body,
                )
        except HttpError:
            raise  # from a resolver of ours (the SSRF guard's)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise _translate(exc, target, timeout) from None

    async def post(self, url: str | URL, **kwargs: Any) -> Reply:
        return await self.request("POST", url, **kwargs)

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def operator_client(timeout: float = 30.0) -> HttpClient:
    """The client for operator-configured services (Telegram, Slack): environment proxies
    (HTTP(S)_PROXY, NO_PROXY) keep working; redirects are not followed."""
    return HttpClient(timeout=timeout, trust_env=True)
