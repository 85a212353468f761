"""Other destinations (Discord, e-mail, ntfy, Teams, …) through Apprise URLs.

A destination is a `ChannelBinding` of type `apprise` whose URL (it holds the service's
credentials) lives in `config.url` and is never shown again. It stays `pending` until the user
types back the code Octipus sent to it.

Apprise opens its own connections (requests, smtplib, …), so messages are sent from the worker
processes of net/connect_guard.py: every connection they make, redirects included, reaches
only public addresses or hosts in OCTIPUS_FORWARD_ALLOW_HOSTS. Redirects are not followed
(Apprise's `http_redirects` off; a URL asking for `redirect=yes` is refused). Services whose
server the user chooses (JSON/XML/form posts, ntfy, Gotify, …) are also checked when saved, so
an internal host is refused with a 400 rather than at the first message.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, ClassVar

import apprise

from octipus.actions.base import ActionError, RetryableError
from octipus.channels.base import Destination
from octipus.db.tables import ChannelBinding
from octipus.net.addresses import BlockedDestination, checked_addresses
from octipus.net.connect_guard import GuardedProcess
from octipus.net.http import HttpConnectError, HttpTimeout

CHANNEL_TYPE = "apprise"
SELF_HOSTED_SCHEMES = frozenset(
    f"{name}{secure}"
    for name in ("json", "xml", "form", "ntfy", "gotify", "mmost", "rocket", "matrix", "apprise")
    for secure in ("", "s")
)
RESOLVE_TIMEOUT = 10.0  # seconds
# Octipus follows no redirects: a URL's own `redirect=yes` is refused by `_service`.
ASSET = apprise.AppriseAsset(http_redirects=False)
_REDIRECT_STATUS = re.compile(r"\berror=3\d\d\b")


class InvalidDestination(ValueError):
    """An Apprise URL Octipus cannot use: unknown to Apprise, or its host is internal."""


def _service(url: str) -> Any:
    """The one Apprise service a URL describes."""
    loaded = apprise.Apprise(asset=ASSET)
    if not loaded.add(url) or len(loaded) != 1:
        raise InvalidDestination(
            "not a single Apprise URL Octipus understands "
            "(see https://github.com/caronc/apprise/wiki for the formats)"
        )
    if loaded[0].redirects:
        raise InvalidDestination("Octipus does not follow redirects: remove redirect=yes")
    return loaded[0]


def describe(url: str) -> str:
    """A name for the destination that shows no secrets: `Discord (discord://1...4/a...n/)`."""
    service = _service(url)
    return f"{service.service_name} ({service.url(privacy=True).split('?', 1)[0]})"


async def check_host(url: str, allow_hosts: frozenset[str]) -> None:
    """Refuse a URL Apprise cannot use, and a self-hosted service whose host resolves to a
    non-public address."""
    service = _service(url)
    if url.split("://", 1)[0].lower() not in SELF_HOSTED_SCHEMES:
        return
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


def deliver(url: str, text: str) -> tuple[bool, list[str]]:
    """Send `text` to the Apprise URL (run in a guarded worker): whether it was delivered, and
    Apprise's warnings and errors about it."""
    sender = apprise.Apprise(asset=ASSET)
    sender.add(url)
    result = sender.notify(body=text)
    notes = [
        entry.message
        for service in result.results
        for entry in service.logs()
        if entry.level in ("WARNING", "ERROR", "CRITICAL")
    ]
    return bool(result), notes


def _failure(notes: list[str]) -> str:
    """What went wrong, in Apprise's words, saying so when the service answered a redirect."""
    text = " ".join(notes) or "no detail from Apprise"
    return text + (" (redirects are not followed)" if _REDIRECT_STATUS.search(text) else "")


class AppriseAdapter:
    channel_type: ClassVar[str] = CHANNEL_TYPE

    def __init__(self, allow_hosts: frozenset[str], process: GuardedProcess):
        self.allow_hosts = allow_hosts
        self.process = process

    async def open(self, binding: ChannelBinding) -> Destination:
        url = str(binding.config.get("url", ""))
        try:
            await check_host(url, self.allow_hosts)  # again: DNS may have changed since saving
            return Destination(url, int(_service(url).body_maxlen))
        except InvalidDestination as exc:
            raise ActionError(f"Apprise destination {binding.external_id}: {exc}") from None

    async def send_part(self, destination: Destination, text: str) -> dict[str, Any]:
        where = describe(destination.address)
        try:
            (delivered, notes), refused = await self.process.run(deliver, destination.address, text)
        except OSError as exc:
            raise RetryableError(f"Apprise could not deliver to {where}: {exc}") from None
        if refused:  # the same refusal next time: not worth retrying
            raise ActionError(f"Apprise could not deliver to {where}: {refused[0]}")
        if not delivered:
            # Apprise hides the service's status code, so every failure is treated as passing.
            raise RetryableError(f"Apprise could not deliver to {where}: {_failure(notes)}")
        return {"delivered": True}
