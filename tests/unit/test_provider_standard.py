"""Standard Webhooks and Svix: the reference library's vector, both libraries' signers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import standardwebhooks
import svix.webhooks

from octipus.ingress.providers.registry import sign_headers
from tests.unit.verify_support import NOW, STANDARD_SECRET, check, reason

STANDARD = {"provider": "standard", "webhookSecret": STANDARD_SECRET}
BODY = b'{"type":"user.created","data":{"id":"u_1"}}'
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
AT = datetime.fromtimestamp(NOW, UTC)


def headers(signature: str, family: str = "webhook", msg_id: str = MSG_ID) -> dict[str, str]:
    return {
        f"{family}-id": msg_id,
        f"{family}-timestamp": str(NOW),
        f"{family}-signature": signature,
    }


def reference_signature(secret: str = STANDARD_SECRET, body: bytes = BODY) -> str:
    return standardwebhooks.Webhook(secret).sign(MSG_ID, AT, body.decode())


def test_reference_library_test_vector():
    """The `test_sign_function` vector of the Standard Webhooks Python library."""
    body = b'{"test": 2432232314}'
    signed = sign_headers(
        "standard", STANDARD_SECRET, body, timestamp=1614265330, message_id=MSG_ID
    )
    assert signed["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    check(STANDARD, signed, body, now=1614265330)


@pytest.mark.parametrize("provider", ["standard", "auto"])
def test_signature_from_the_standardwebhooks_library_verifies(provider: str):
    config = {"provider": provider, "webhookSecret": STANDARD_SECRET}
    check(config, headers(reference_signature()), BODY)


@pytest.mark.parametrize("provider", ["standard", "svix", "auto"])
def test_svix_library_signature_with_svix_headers_verifies(provider: str):
    signature = svix.webhooks.Webhook(STANDARD_SECRET).sign(MSG_ID, AT, BODY.decode())
    config = {"provider": provider, "webhookSecret": STANDARD_SECRET}
    check(config, headers(signature, family="svix"), BODY)


def test_reference_library_accepts_what_octipus_send_signs():
    signed = sign_headers("standard", STANDARD_SECRET, BODY)
    assert standardwebhooks.Webhook(STANDARD_SECRET).verify(BODY, signed) == {
        "type": "user.created",
        "data": {"id": "u_1"},
    }


def test_secret_without_the_whsec_prefix_is_the_same_key():
    config = {"provider": "standard", "webhookSecret": STANDARD_SECRET.removeprefix("whsec_")}
    check(config, headers(reference_signature()), BODY)


def test_space_separated_signatures_any_v1_verifies():
    forged = reference_signature("whsec_" + "A" * 32).split(",")[1]
    good = reference_signature()
    value = f"v1,{forged} v2,{good.split(',')[1]} {good}"
    check(STANDARD, headers(value), BODY)


def test_only_other_versions_is_malformed():
    value = "v2," + reference_signature().split(",")[1]
    assert reason(STANDARD, headers(value), BODY) == (
        "malformed webhook-signature header: expected v1,<base64> [v1,<base64> …]"
    )


def test_wrong_prefix_is_malformed():
    value = "v1=" + reference_signature().split(",")[1]
    assert reason(STANDARD, headers(value), BODY).startswith("malformed webhook-signature header")


def test_truncated_signature_is_a_mismatch():
    value = reference_signature()[:-4]
    assert reason(STANDARD, headers(value), BODY) == "signature mismatch for webhook-signature"


def test_changed_message_id_breaks_the_signature():
    value = reference_signature()
    assert reason(STANDARD, headers(value, msg_id="msg_other"), BODY) == (
        "signature mismatch for webhook-signature"
    )


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp"])
def test_missing_id_or_timestamp_header_is_named(missing: str):
    sent = headers(reference_signature())
    del sent[missing]
    assert reason(STANDARD, sent, BODY) == f"missing {missing} header"


def test_non_numeric_timestamp_is_malformed():
    sent = {**headers(reference_signature()), "webhook-timestamp": "1.7e9"}
    assert reason(STANDARD, sent, BODY) == (
        "malformed webhook-timestamp header: expected Unix seconds"
    )


@pytest.mark.parametrize(("now", "word"), [(NOW + 301, "old"), (NOW - 301, "in the future")])
def test_stale_or_future_message_is_outside_tolerance(now: int, word: str):
    refused = reason(STANDARD, headers(reference_signature()), BODY, now=now)
    assert refused.startswith(f"timestamp outside tolerance: webhook-timestamp is 301 s {word}")


def test_auto_hook_with_a_plain_secret_says_it_is_not_a_standard_key():
    config = {"webhookSecret": "not base64!"}
    assert reason(config, headers(reference_signature()), BODY) == (
        "no webhookSecret of this hook is a Standard Webhooks secret (whsec_ followed by base64)"
    )
