"""What every provider plugin is made of: the request a verifier sees, the one error type, the
common `triggerConfig` fields, and the `Provider` description the registry collects.

A provider module (one per sender, beside this file) holds its verifier classes, how it signs
(for `octipus send`, the forward action and the tests), the headers it sends, an optional
handshake, and its `triggerConfig` model. docs/providers.md says how to add one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from octipus.ingress.providers.paths import normalise_path

DEFAULT_TOLERANCE_SECONDS = 300
MAX_TOLERANCE_SECONDS = 86_400
MAX_EXTRA_SECRETS = 10
MAX_EVENTS = 100


class VerificationError(Exception):
    """Why a request did not verify; the message is safe to show (never a secret)."""

    def __init__(self, reason: str, header: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.header = header


@dataclass(frozen=True)
class Request:
    """What a verifier sees: lower-cased headers, the raw body, the current Unix time, and the
    public URL the sender posted to (only URL-signing schemes such as Twilio's read it)."""

    headers: Mapping[str, str]
    body: bytes
    now: float
    url: str = ""


class Verifier(Protocol):
    @property
    def provider(self) -> str:
        """The scheme's name, e.g. "github" ("auto" for the detecting verifier)."""
        ...

    def verify(self, request: Request) -> None:
        """Return when the request is authentic; raise VerificationError saying why not."""
        ...


# --- triggerConfig: the fields every provider shares -------------------------------------------

NonEmpty = Annotated[str, Field(min_length=1)]


class TriggerConfigBase(BaseModel):
    """The fields of every hook's `triggerConfig`; each provider's model adds its own and pins
    `provider`. Strict: a number in quotes or a 1 for true is refused, not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)

    webhookPath: str | None = Field(
        default=None, description='the path senders post to under /api/webhooks/, e.g. "github"'
    )
    webhookSecret: str | None = Field(default=None, description="the secret shared with the sender")
    webhookSecrets: list[NonEmpty] | None = Field(
        default=None,
        max_length=MAX_EXTRA_SECRETS,
        description=f"a list of at most {MAX_EXTRA_SECRETS} non-empty strings"
        " (the extra secrets accepted during a rotation)",
    )
    events: list[NonEmpty] | None = Field(
        default=None,
        max_length=MAX_EVENTS,
        description=f'a list of at most {MAX_EVENTS} event names, e.g. ["push"]',
    )
    toleranceSeconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TOLERANCE_SECONDS,
        description=f"a whole number from 1 to {MAX_TOLERANCE_SECONDS}"
        " (seconds a timestamp may differ from the server's clock)",
    )

    @field_validator("webhookPath")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return None if value is None else normalise_path(value)

    @property
    def secrets(self) -> tuple[str, ...]:
        """`webhookSecret` then every `webhookSecrets` entry (rotation), blanks dropped."""
        return tuple(s for s in (self.webhookSecret, *(self.webhookSecrets or ())) if s)

    def tolerance(self, default: int = DEFAULT_TOLERANCE_SECONDS) -> int:
        return self.toleranceSeconds or default


def saving(info: ValidationInfo) -> bool:
    """True when the config is being saved (stricter than reading one stored earlier)."""
    return bool(info.context and info.context.get("saving"))


# --- the provider description ---------------------------------------------------------------------


@dataclass(frozen=True)
class SignOptions:
    """What a signer may need beyond secret and body (all have defaults)."""

    timestamp: int
    message_id: str | None = None
    url: str = ""
    content_type: str = "application/json"
    signature_header: str = "X-Signature"
    algorithm: str = "sha256"
    encoding: str = "hex"
    prefix: str = ""


@dataclass(frozen=True)
class Detect:
    """`auto` picks the provider of the lowest-`rank` signature header present whose value
    `accepts`; ranks order schemes strongest first (timestamped before body-only)."""

    header: str
    rank: int
    accepts: Callable[[str], bool] = lambda _value: True


def _same_url(url: str, _body: bytes, _content_type: str) -> str:
    return url


def _same_body(body: bytes, _now_ms: int | None) -> bytes:
    return body


def _no_handshake(_body: Any) -> dict[str, Any] | None:
    return None


@dataclass(frozen=True)
class Provider:
    """One sender's scheme: everything Octipus knows about it, in one value.

    `names` are the `triggerConfig.provider` values it answers to (the first is its own; e.g.
    gitea also answers to "forgejo"), `titles` what the web UI calls each. `build` turns a
    validated config into a verifier, `sign` returns the headers the sender would send.
    `event_header`/`delivery_headers` carry the event type and the sender's delivery id (the
    first is the one `octipus send` sets); `body_delivery_id` names a body field holding the id
    when no header does.
    """

    names: tuple[str, ...]
    titles: tuple[str, ...]
    config: type[TriggerConfigBase]
    build: Callable[[Any, str], Verifier]
    sign: Callable[[str, str, bytes, SignOptions], dict[str, str]]
    signature_headers: tuple[str, ...]
    detect: tuple[Detect, ...] = ()
    event_header: str | None = None
    delivery_headers: tuple[str, ...] = ()
    body_delivery_id: str | None = None
    handshake: Callable[[Any], dict[str, Any] | None] = _no_handshake
    stamp_body: Callable[[bytes, int | None], bytes] = _same_body
    signed_url: Callable[[str, bytes, str], str] = _same_url
    body_signed: bool = False  # signs the body alone: auto refuses cross-scheme replays
    signs_url: bool = False  # its signature covers the public URL (the ingress then builds it)

    @property
    def name(self) -> str:
        return self.names[0]
