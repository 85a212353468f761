"""GitHub: `X-Hub-Signature-256`, its published test vector, githubkit's signer, SHA-1 opt-in."""

from __future__ import annotations

import pytest
from githubkit.webhooks import sign as githubkit_sign

from tests.support.signing import fixture_bytes
from tests.unit.verify_support import SECRET, check, reason

GITHUB = {"provider": "github", "webhookSecret": SECRET}
BODY = b'{"zen":"Design for failure."}'


def test_github_docs_test_vector_verifies():
    config = {"provider": "github", "webhookSecret": "It's a Secret to Everybody"}
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    check(config, {"X-Hub-Signature-256": signature}, b"Hello, World!")


@pytest.mark.parametrize("provider", ["github", "auto"])
def test_fixture_signed_by_githubkit_verifies(provider: str):
    body = fixture_bytes("github", "push")
    signature = githubkit_sign(SECRET, body)
    check({"provider": provider, "webhookSecret": SECRET}, {"X-Hub-Signature-256": signature}, body)


def test_truncated_signature_is_a_mismatch():
    signature = githubkit_sign(SECRET, BODY)[:-2]
    assert reason(GITHUB, {"X-Hub-Signature-256": signature}, BODY) == (
        "signature mismatch for X-Hub-Signature-256"
    )


def test_odd_length_hex_is_malformed():
    signature = githubkit_sign(SECRET, BODY)[:-1]
    assert reason(GITHUB, {"X-Hub-Signature-256": signature}, BODY) == (
        "malformed X-Hub-Signature-256 header: expected sha256=<hex>"
    )


def test_wrong_prefix_is_malformed():
    digest = githubkit_sign(SECRET, BODY).removeprefix("sha256=")
    assert reason(GITHUB, {"X-Hub-Signature-256": "sha1=" + digest}, BODY) == (
        "malformed X-Hub-Signature-256 header: expected sha256=<hex>"
    )


@pytest.mark.parametrize("provider", ["github", "auto"])
def test_legacy_sha1_signature_is_refused_by_default(provider: str):
    headers = {"X-Hub-Signature": githubkit_sign(SECRET, BODY, method="sha1")}
    refused = reason({"provider": provider, "webhookSecret": SECRET}, headers, BODY)
    assert "X-Hub-Signature (SHA-1) is not accepted" in refused
    assert "triggerConfig.allowSha1" in refused


@pytest.mark.parametrize("provider", ["github", "auto"])
def test_legacy_sha1_signature_verifies_when_the_hook_opts_in(provider: str):
    headers = {"X-Hub-Signature": githubkit_sign(SECRET, BODY, method="sha1")}
    check({"provider": provider, "webhookSecret": SECRET, "allowSha1": True}, headers, BODY)


def test_bad_sha256_signature_never_falls_back_to_a_good_sha1():
    headers = {
        "X-Hub-Signature-256": githubkit_sign("not-the-secret", BODY),
        "X-Hub-Signature": githubkit_sign(SECRET, BODY, method="sha1"),
    }
    config = {**GITHUB, "allowSha1": True}
    assert reason(config, headers, BODY) == "signature mismatch for X-Hub-Signature-256"


def test_wrong_sha1_signature_is_a_mismatch_for_x_hub_signature():
    headers = {"X-Hub-Signature": githubkit_sign("not-the-secret", BODY, method="sha1")}
    config = {**GITHUB, "allowSha1": True}
    assert reason(config, headers, BODY) == "signature mismatch for X-Hub-Signature"
