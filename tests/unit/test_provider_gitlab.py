"""GitLab: the plain `X-Gitlab-Token`, and signing-token mode (Standard Webhooks headers)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import standardwebhooks

from tests.support.signing import fixture_bytes
from tests.unit.verify_support import NOW, SECRET, STANDARD_SECRET, check, reason

GITLAB = {"provider": "gitlab", "webhookSecret": SECRET}
BODY = fixture_bytes("gitlab", "push")


@pytest.mark.parametrize("provider", ["gitlab", "auto"])
def test_matching_token_verifies(provider: str):
    check({"provider": provider, "webhookSecret": SECRET}, {"X-Gitlab-Token": SECRET}, BODY)


@pytest.mark.parametrize("token", ["wrong", SECRET[:-1], SECRET + "x", "ü" * 20])
def test_any_other_token_is_a_mismatch(token: str):
    assert reason(GITLAB, {"X-Gitlab-Token": token}, BODY) == "token mismatch for X-Gitlab-Token"


def test_blank_token_counts_as_missing():
    assert reason(GITLAB, {"X-Gitlab-Token": "  "}, BODY) == (
        "missing X-Gitlab-Token or webhook-signature header"
    )


def test_missing_token_names_both_ways_gitlab_authenticates():
    assert reason(GITLAB, {}, BODY) == "missing X-Gitlab-Token or webhook-signature header"


def test_token_from_a_rotation_list_verifies():
    config = {**GITLAB, "webhookSecrets": ["next-token-123"]}
    check(config, {"X-Gitlab-Token": "next-token-123"}, BODY)


def signing_headers(secret: str = STANDARD_SECRET) -> dict[str, str]:
    """What GitLab sends with a signing token: Standard Webhooks headers."""
    msg_id = "3f6e1a5c-1b7c-4e0e-9a7d-0c2c9d3b8f11"
    at = datetime.fromtimestamp(NOW, UTC)
    signature = standardwebhooks.Webhook(secret).sign(msg_id, at, BODY.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(NOW),
        "webhook-signature": signature,
        "Idempotency-Key": msg_id,
    }


@pytest.mark.parametrize("provider", ["gitlab", "auto"])
def test_signing_token_mode_verifies(provider: str):
    config = {"provider": provider, "webhookSecret": SECRET, "webhookSecrets": [STANDARD_SECRET]}
    check(config, signing_headers(), BODY)


def test_bad_signature_is_not_rescued_by_a_good_token():
    config = {**GITLAB, "webhookSecrets": [STANDARD_SECRET]}
    headers = {**signing_headers("whsec_" + "B" * 32), "X-Gitlab-Token": SECRET}
    assert reason(config, headers, BODY) == "signature mismatch for webhook-signature"


def test_stale_signed_delivery_is_outside_tolerance():
    config = {**GITLAB, "webhookSecrets": [STANDARD_SECRET]}
    assert reason(config, signing_headers(), BODY, now=NOW + 400).startswith(
        "timestamp outside tolerance"
    )
