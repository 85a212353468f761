"""Shopify: `X-Shopify-Hmac-Sha256`, the base64 HMAC of the raw body."""

from __future__ import annotations

import base64

import pytest

from tests.unit.verify_support import BODY, SECRET, check, mac, reason


@pytest.mark.parametrize("provider", ["shopify", "auto"])
def test_shopify_base64_signature_verifies(provider: str):
    headers = {"X-Shopify-Hmac-Sha256": base64.b64encode(mac()).decode()}
    check({"provider": provider, "webhookSecret": SECRET}, headers, BODY)


def test_shopify_prefixed_signature_is_malformed():
    headers = {"X-Shopify-Hmac-Sha256": "sha256=" + base64.b64encode(mac()).decode()}
    assert reason({"provider": "shopify", "webhookSecret": SECRET}, headers, BODY) == (
        "malformed X-Shopify-Hmac-Sha256 header: expected <base64>"
    )


def test_shopify_truncated_signature_is_a_mismatch():
    headers = {"X-Shopify-Hmac-Sha256": base64.b64encode(mac()[:-3]).decode()}
    assert reason({"provider": "shopify", "webhookSecret": SECRET}, headers, BODY) == (
        "signature mismatch for X-Shopify-Hmac-Sha256"
    )
