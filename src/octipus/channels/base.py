"""One interface for every chat platform: open a binding's destination, send one part to it.

Splitting a message to the platform's limit and classifying platform failures (retry or not)
live here once, so the Telegram, Slack and Apprise adapters only speak their wire format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from octipus.actions.base import ActionError, RetryableError
from octipus.db.tables import ChannelBinding


@dataclass(frozen=True)
class Destination:
    """Where a binding's messages go on the platform, and how long one message may be."""

    address: str
    max_chars: int


@dataclass(frozen=True)
class InboundCommand:
    """A command a user sent to the bot (`/link`, `/link CODE`), whatever the platform."""

    channel_type: str
    external_id: str
    display_name: str | None
    text: str


class ChannelAdapter(Protocol):
    """A platform Octipus can send notifications to."""

    channel_type: ClassVar[str]

    async def open(self, binding: ChannelBinding) -> Destination:
        """Resolve the binding to a destination (Slack opens the DM); may raise like send_part."""
        ...

    async def send_part(self, destination: Destination, text: str) -> dict[str, Any]:
        """Send one part no longer than the destination's limit; return what the platform said.

        Raise RetryableError for 429/5xx/connection failures, ActionError for the rest.
        """
        ...


def utf16_len(text: str) -> int:
    """Length as Telegram and JavaScript count it (astral characters count twice)."""
    return len(text.encode("utf-16-le")) // 2


def _longest_prefix(text: str, limit: int) -> int:
    """How many code points of `text` fit in `limit` UTF-16 units (never splits a character)."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def _break_point(window: str) -> int:
    """Where to cut a full window: after its last newline, else its last space, else its end."""
    for separator in ("\n", " "):
        at = window.rfind(separator)
        if at >= len(window) // 2:
            return at + 1
    return len(window)


def split_message(text: str, limit: int) -> list[str]:
    """Split `text` into ordered parts of at most `limit` UTF-16 units, cutting at line or word
    breaks when one falls in the second half of a part. Joined, the parts give back `text`
    (parts that are only whitespace are dropped, as platforms refuse empty messages)."""
    parts: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        cut = _break_point(rest[: _longest_prefix(rest, limit)])
        parts.append(rest[:cut])
        rest = rest[cut:]
    parts.append(rest)
    return [part for part in parts if part.strip()]


def platform_failure(
    platform: str, status: int, detail: str, retry_after: float | None = None
) -> RetryableError | ActionError:
    """429 and 5xx are worth retrying (after `retry_after` when the platform says); the rest not."""
    message = f"{platform} refused the message: {detail}"
    if status == 429 or status >= 500:
        return RetryableError(message, retry_after=retry_after)
    return ActionError(message)


def unreachable(platform: str, exc: Exception, secret: str | None = None) -> RetryableError:
    """A connection failure or timeout, described without ever echoing `secret`."""
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if secret:
        detail = detail.replace(secret, "<redacted>")
    return RetryableError(f"{platform} is unreachable ({detail})")
