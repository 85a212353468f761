"""Bitbucket: `X-Hub-Signature: sha256=<hex>` of the raw body."""

from __future__ import annotations

import pytest

from tests.unit.verify_support import BODY, SECRET, check, mac, reason


@pytest.mark.parametrize("provider", ["bitbucket", "auto"])
def test_bitbucket_sha256_signature_verifies(provider: str):
    headers = {"X-Hub-Signature": "sha256=" + mac().hex()}
    check({"provider": provider, "webhookSecret": SECRET}, headers, BODY)


def test_bitbucket_sha1_prefix_is_malformed():
    headers = {"X-Hub-Signature": "sha1=" + mac("sha1").hex()}
    assert reason({"provider": "bitbucket", "webhookSecret": SECRET}, headers, BODY) == (
        "malformed X-Hub-Signature header: expected sha256=<hex>"
    )
