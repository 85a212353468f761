"""A hook's verifier, built once from its `triggerConfig`: its provider's, or `auto`'s."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from octipus.ingress.providers.config import AutoConfig, TriggerConfigError, parse_trigger_config
from octipus.ingress.providers.core import Request, VerificationError, Verifier
from octipus.ingress.providers.linear import TOLERANCE_SECONDS as LINEAR_TOLERANCE_SECONDS
from octipus.ingress.providers.linear import body_timestamp_ms
from octipus.ingress.providers.mac import check_fresh
from octipus.ingress.providers.registry import (
    AUTO_EXPECTED_HEADERS,
    BY_NAME,
    DETECT_ORDER,
    detect_provider,
)

# Signed strings of the timestamped schemes: Slack `v0:{ts}:`, Stripe `{ts}.`, Standard `{id}.{ts}.`
_TIMESTAMPED_MESSAGE = re.compile(
    rb"v0:[0-9]{9,11}:|[0-9]{9,11}\.|[A-Za-z0-9_-]{1,128}\.[0-9]{9,11}\."
)


@dataclass(frozen=True)
class AutoVerifier:
    """`provider: "auto"`: the scheme of the signature header present, with the hook's secrets.

    It never falls back to another scheme after a failure, refuses a request with no known
    signature header, and refuses a body-signed request that is really another scheme's signed
    message replayed (a captured Slack/Stripe/Standard/Linear delivery re-sent as GitHub's),
    so auto-detection cannot be used to skip a timestamp check.
    """

    schemes: Mapping[str, Verifier]
    linear_tolerance: int
    provider: str = "auto"

    def verify(self, request: Request) -> None:
        detected = detect_provider(request.headers)
        if detected is None:
            raise VerificationError(
                f"missing signature header (expected one of {AUTO_EXPECTED_HEADERS})"
            )
        self.schemes[detected.name].verify(request)
        if detected.body_signed:
            self._refuse_cross_scheme_replay(request)

    def _refuse_cross_scheme_replay(self, request: Request) -> None:
        if _TIMESTAMPED_MESSAGE.match(request.body):
            raise VerificationError(
                "body is shaped like a timestamped scheme's signed string (a replay across"
                " schemes?); pin triggerConfig.provider to accept such bodies"
            )
        if b'"webhookTimestamp"' in request.body:
            timestamp_ms = body_timestamp_ms(request.body)
            if timestamp_ms is not None:
                check_fresh(
                    timestamp_ms / 1000, request.now, self.linear_tolerance, "webhookTimestamp"
                )


@dataclass(frozen=True)
class RefusingVerifier:
    """A hook that cannot verify anything (no secret, or a broken stored config)."""

    reason: str
    provider: str = "none"

    def verify(self, request: Request) -> None:
        raise VerificationError(self.reason)


def _auto(config: AutoConfig) -> AutoVerifier:
    """Every detectable scheme with this hook's secrets and options (auto's model holds the
    options of each: secrets, toleranceSeconds, allowSha1)."""
    schemes = {p.name: p.build(config, p.name) for _, p in DETECT_ORDER}
    return AutoVerifier(schemes, config.tolerance(LINEAR_TOLERANCE_SECONDS))


def build_verifier(trigger_config: Mapping[str, Any]) -> Verifier:
    """The verifier for one hook's `triggerConfig` (refusing everything when it is invalid)."""
    try:
        config = parse_trigger_config(trigger_config)
    except TriggerConfigError as exc:
        return RefusingVerifier(f"hook is misconfigured: {exc}")
    if not config.secrets:
        return RefusingVerifier(
            "hook has no webhookSecret configured; set one to accept deliveries"
        )
    if isinstance(config, AutoConfig):
        return _auto(config)
    name = str(getattr(config, "provider", ""))
    return BY_NAME[name].build(config, name)
