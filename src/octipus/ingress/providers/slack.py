"""Slack: `X-Slack-Signature: v0=<hex>` over `v0:{ts}:{body}`; the url_verification handshake."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from octipus.ingress.providers.core import (
    DEFAULT_TOLERANCE_SECONDS,
    Detect,
    Provider,
    Request,
    SignOptions,
    TriggerConfigBase,
)
from octipus.ingress.providers.mac import (
    check_fresh,
    check_mac,
    header,
    hex_mac,
    signature,
    unix_seconds,
    utf8_keys,
)


class SlackConfig(TriggerConfigBase):
    provider: Literal["slack"]


@dataclass(frozen=True)
class SlackVerifier:
    """`X-Slack-Signature: v0=<hex>` over `v0:{ts}:{body}`, `X-Slack-Request-Timestamp`."""

    keys: tuple[bytes, ...]
    tolerance: int = DEFAULT_TOLERANCE_SECONDS
    provider: str = "slack"

    def verify(self, request: Request) -> None:
        name, value = header(request, "X-Slack-Signature")
        ts_header, ts_text = header(request, "X-Slack-Request-Timestamp")
        timestamp = unix_seconds(ts_header, ts_text)
        given = signature(name, value, "v0=", "hex")
        check_mac(self.keys, f"v0:{ts_text}:".encode() + request.body, [given], name)
        check_fresh(timestamp, request.now, self.tolerance, ts_header)


def build(config: SlackConfig, name: str) -> SlackVerifier:
    return SlackVerifier(utf8_keys(config.secrets), config.tolerance())


def sign(name: str, secret: str, body: bytes, options: SignOptions) -> dict[str, str]:
    ts = options.timestamp
    return {
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": "v0=" + hex_mac(secret, f"v0:{ts}:".encode() + body),
    }


def handshake(body: Any) -> dict[str, Any] | None:
    """Slack's `url_verification`: answer the challenge instead of queueing the request."""
    if (
        isinstance(body, dict)
        and body.get("type") == "url_verification"
        and isinstance(body.get("challenge"), str)
    ):
        return {"challenge": body["challenge"]}
    return None


PROVIDER = Provider(
    names=("slack",),
    titles=("Slack",),
    config=SlackConfig,
    build=build,
    sign=sign,
    signature_headers=("X-Slack-Signature",),
    detect=(Detect("X-Slack-Signature", 30),),
    handshake=handshake,
)
