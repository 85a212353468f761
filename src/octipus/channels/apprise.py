"""Other destinations (Discord, e-mail, ntfy, Teams, …) through Apprise URLs.

A destination is a `ChannelBinding` of type `apprise` whose URL (it holds the service's
credentials) lives in `config.url` and is never shown again. It stays `pending` until the user
types back the code Octipus sent to it.

Services whose server the user chooses (JSON/XML/form posts, ntfy, Gotify, …) get the same
guard as forwards: a host resolving to a loopback/private address is refused unless it is in
`OCTIPUS_FORWARD_ALLOW_HOSTS`.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

import apprise

from octipus.actions.base import ActionError, RetryableError
from octipus.actions.ssrf import BlockedDestination, checked_addresses
from octipus.channels.base import Destination
from octipus.db.tables import ChannelBinding
from octipus.http_client import HttpConnectError, HttpTimeout

CHANNEL_TYPE = "apprise"
SELF_HOSTED_SCHEMES = frozenset(
    f"{name}{secure}"
    for name in ("json", "xml", "form", "ntfy", "gotify", "mmost", "rocket", "matrix", "apprise")
    for secure in ("", "s")
)
RESOLVE_TIMEOUT = 10.0  # seconds


class InvalidDestination(ValueError):
    """An Apprise URL Octipus cannot use: unknown to Apprise, or its host is internal."""


def _service(url: str) -> Any:
    """The one Apprise service a URL describes."""
    loaded = apprise.Apprise()
    if not loaded.add(url) or len(loaded) != 1:
        raise InvalidDestination(
            "not a single Apprise URL Octipus understands "
            "(see https://github.com/caronc/apprise/wiki for the formats)"
        )
    return loaded[0]


def describe(url: str) -> str:
    """A name for the destination that shows no secrets: `Discord (discord://1...4/a...n/)`."""
    service = _service(url)
    return f"{service.service_name} ({service.url(privacy=True).split('?', 1)[0]})"


async def check_host(url: str, allow_hosts: frozenset[str]) -> None:
    """Refuse a self-hosted service whose host resolves to a non-public address."""
    if url.split("://", 1)[0].lower() not in SELF_HOSTED_SCHEMES:
        return
    service = _service(url)
    host = str(service.host or "")
    try:
        await checked_addresses(host, service.port or 443, RESOLVE_TIMEOUT, allow_hosts)
    except BlockedDestination as exc:
        raise InvalidDestination(str(exc)) from None
    except (HttpConnectError, HttpTimeout):
        raise InvalidDestination(f"cannot resolve the host {host!r}") from None


def destination_id(user_id: str, url: str) -> str:
    """A stable id per user and URL: adding the same URL twice finds the same binding."""
    return hashlib.sha256(f"{user_id}\n{url}".encode()).hexdigest()[:16]


class AppriseAdapter:
    channel_type: ClassVar[str] = CHANNEL_TYPE

    def __init__(self, allow_hosts: frozenset[str]):
        self.allow_hosts = allow_hosts

    async def open(self, binding: ChannelBinding) -> Destination:
        url = str(binding.config.get("url", ""))
        try:
            await check_host(url, self.allow_hosts)  # again: DNS may have changed since saving
            return Destination(url, int(_service(url).body_maxlen))
        except InvalidDestination as exc:
            raise ActionError(f"Apprise destination {binding.external_id}: {exc}") from None

    async def send_part(self, destination: Destination, text: str) -> dict[str, Any]:
        sender = apprise.Apprise()
        sender.add(destination.address)
        result = await sender.async_notify(body=text)
        if not result:
            # Apprise hides the service's status code, so every failure is treated as passing.
            raise RetryableError(f"Apprise could not deliver to {describe(destination.address)}")
        return {"delivered": True}
