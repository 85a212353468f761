"""The typed triggerConfig: each invalid field named, and what a broken stored config does."""

from __future__ import annotations

from typing import Any

import pytest

from octipus.ingress.providers.config import parse_trigger_config
from octipus.ingress.providers.registry import SUPPORTED_PROVIDERS
from tests.unit.verify_support import SECRET, STANDARD_SECRET, check, reason, signed


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"webhookSecret": SECRET},
        {"provider": "auto", "webhookSecret": SECRET, "webhookSecrets": ["b", "c"]},
        {"provider": "github", "allowSha1": True},
        {"provider": "stripe", "toleranceSeconds": 600},
        {"provider": "standard", "webhookSecret": STANDARD_SECRET},
        {"provider": "svix", "webhookSecret": STANDARD_SECRET.removeprefix("whsec_")},
        {"provider": "gitlab", "webhookSecret": "token", "webhookSecrets": [STANDARD_SECRET]},
        {
            "provider": "hmac",
            "signatureHeader": "X-Sig",
            "algorithm": "sha512",
            "encoding": "base64",
            "prefix": "sha512=",
        },
        {"provider": None},
    ],
)
def test_valid_configs_pass(config: dict[str, Any]):
    parse_trigger_config(config)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"provider": "carrier-pigeon"}, "triggerConfig.provider"),
        ({"provider": ["github"]}, "triggerConfig.provider"),
        ({"webhookSecret": 42}, "triggerConfig.webhookSecret"),
        ({"webhookSecrets": "abc"}, "triggerConfig.webhookSecrets"),
        ({"webhookSecrets": ["ok", 1]}, "triggerConfig.webhookSecrets"),
        ({"webhookSecrets": [""]}, "triggerConfig.webhookSecrets"),
        ({"webhookSecrets": ["s"] * 11}, "triggerConfig.webhookSecrets"),
        ({"provider": "standard", "webhookSecret": "plain secret"}, "triggerConfig.webhookSecret"),
        (
            {"provider": "standard", "webhookSecret": STANDARD_SECRET, "webhookSecrets": ["x!"]},
            "triggerConfig.webhookSecret",
        ),
        ({"toleranceSeconds": 0}, "triggerConfig.toleranceSeconds"),
        ({"toleranceSeconds": 86_401}, "triggerConfig.toleranceSeconds"),
        ({"toleranceSeconds": "300"}, "triggerConfig.toleranceSeconds"),
        ({"toleranceSeconds": 1.5}, "triggerConfig.toleranceSeconds"),
        ({"toleranceSeconds": True}, "triggerConfig.toleranceSeconds"),
        ({"allowSha1": "yes"}, "triggerConfig.allowSha1"),
        ({"provider": "hmac"}, "triggerConfig.signatureHeader"),
        ({"provider": "hmac", "signatureHeader": "X Sig"}, "triggerConfig.signatureHeader"),
        ({"provider": "hmac", "signatureHeader": 5}, "triggerConfig.signatureHeader"),
        ({"provider": "github", "signatureHeader": "X-Sig"}, "triggerConfig.signatureHeader"),
        (
            {"provider": "hmac", "signatureHeader": "X-Sig", "algorithm": "md5"},
            "triggerConfig.algorithm",
        ),
        (
            {"provider": "hmac", "signatureHeader": "X-Sig", "encoding": "base32"},
            "triggerConfig.encoding",
        ),
        ({"provider": "hmac", "signatureHeader": "X-Sig", "prefix": 1}, "triggerConfig.prefix"),
    ],
)
def test_invalid_field_is_named(config: dict[str, Any], field: str):
    with pytest.raises(ValueError) as invalid:
        parse_trigger_config(config)
    assert str(invalid.value).startswith(field)


def test_unknown_provider_message_lists_the_choices():
    with pytest.raises(ValueError) as invalid:
        parse_trigger_config({"provider": "carrier-pigeon"})
    assert all(provider in str(invalid.value) for provider in SUPPORTED_PROVIDERS)


def test_messages_never_echo_a_secret():
    with pytest.raises(ValueError) as invalid:
        parse_trigger_config({"provider": "standard", "webhookSecret": "hunter2-secret"})
    assert "hunter2" not in str(invalid.value)


def test_stored_config_that_no_longer_validates_refuses_every_request():
    config = {"provider": "carrier-pigeon", "webhookSecret": SECRET}
    refused = reason(config, signed("github", SECRET, b"{}"), b"{}")
    assert refused.startswith("hook is misconfigured: triggerConfig.provider")


def test_saving_requires_the_webhook_path_and_stores_it_without_slashes():
    with pytest.raises(ValueError) as invalid:
        parse_trigger_config({"webhookSecret": SECRET}, saving=True)
    assert str(invalid.value).startswith("triggerConfig.webhookPath is required")
    assert parse_trigger_config({"webhookPath": "/a/b/"}, saving=True).webhookPath == "a/b"


def test_a_bare_base64_standard_secret_is_refused_when_saved_but_still_verifies_when_stored():
    config = {"provider": "standard", "webhookSecret": STANDARD_SECRET.removeprefix("whsec_")}
    with pytest.raises(ValueError, match="whsec_"):
        parse_trigger_config({**config, "webhookPath": "p"}, saving=True)
    body = b'{"type":"ping"}'
    check(config, signed("standard", STANDARD_SECRET, body), body)


def test_a_field_of_another_provider_is_refused_listing_this_providers_fields():
    message = str(_refusal({"provider": "stripe", "allowSha1": True}))
    assert message.startswith("triggerConfig.allowSha1: unknown field 'allowSha1'")
    assert "toleranceSeconds" in message


def test_a_wrong_type_says_what_is_expected():
    message = str(_refusal({"toleranceSeconds": "300"}))
    assert "expected a whole number from 1 to 86400" in message


def _refusal(config: dict[str, Any]) -> ValueError:
    with pytest.raises(ValueError) as invalid:
        parse_trigger_config(config)
    return invalid.value
