"""Schemes that sign only the raw body: Shopify, Gitea/Forgejo/Gogs, Bitbucket, generic HMAC."""

from __future__ import annotations

import base64
import hmac

import pytest

from tests.unit.verify_support import SECRET, check, reason

BODY = b'{"id":820982911946154508,"email":"jon@example.com"}'


def mac(algorithm: str = "sha256", secret: str = SECRET, body: bytes = BODY) -> bytes:
    return hmac.new(secret.encode(), body, algorithm).digest()


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


@pytest.mark.parametrize("provider", ["gitea", "forgejo", "auto"])
@pytest.mark.parametrize("header", ["X-Gitea-Signature", "X-Forgejo-Signature", "X-Gogs-Signature"])
def test_gitea_family_bare_hex_signature_verifies(provider: str, header: str):
    check({"provider": provider, "webhookSecret": SECRET}, {header: mac().hex()}, BODY)


def test_gitea_prefixed_signature_is_malformed():
    headers = {"X-Gitea-Signature": "sha256=" + mac().hex()}
    assert reason({"provider": "gitea", "webhookSecret": SECRET}, headers, BODY) == (
        "malformed X-Gitea-Signature header: expected <hex>"
    )


def test_gitea_missing_header_names_every_accepted_header():
    assert reason({"provider": "forgejo", "webhookSecret": SECRET}, {}, BODY) == (
        "missing X-Gitea-Signature or X-Forgejo-Signature or X-Gogs-Signature header"
    )


@pytest.mark.parametrize("provider", ["bitbucket", "auto"])
def test_bitbucket_sha256_signature_verifies(provider: str):
    headers = {"X-Hub-Signature": "sha256=" + mac().hex()}
    check({"provider": provider, "webhookSecret": SECRET}, headers, BODY)


def test_bitbucket_sha1_prefix_is_malformed():
    headers = {"X-Hub-Signature": "sha1=" + mac("sha1").hex()}
    assert reason({"provider": "bitbucket", "webhookSecret": SECRET}, headers, BODY) == (
        "malformed X-Hub-Signature header: expected sha256=<hex>"
    )


def hmac_config(**fields: str) -> dict[str, str]:
    return {"provider": "hmac", "webhookSecret": SECRET, "signatureHeader": "X-Signature", **fields}


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("encoding", ["hex", "base64"])
@pytest.mark.parametrize("prefix", ["", "sha256=", "v1:"])
def test_generic_hmac_verifies_every_algorithm_encoding_and_prefix(
    algorithm: str, encoding: str, prefix: str
):
    digest = mac(algorithm)
    text = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    config = hmac_config(algorithm=algorithm, encoding=encoding, prefix=prefix)
    check(config, {"X-Signature": prefix + text}, BODY)


def test_generic_hmac_defaults_to_bare_hex_sha256():
    check(hmac_config(), {"x-signature": mac().hex()}, BODY)


def test_generic_hmac_signed_with_another_algorithm_is_a_mismatch():
    config = hmac_config(algorithm="sha512")
    headers = {"X-Signature": mac("sha256").hex()}
    assert reason(config, headers, BODY) == "signature mismatch for X-Signature"


def test_generic_hmac_missing_prefix_is_malformed():
    config = hmac_config(prefix="sha256=")
    assert reason(config, {"X-Signature": mac().hex()}, BODY) == (
        "malformed X-Signature header: expected sha256=<hex>"
    )


def test_generic_hmac_missing_header_is_named():
    assert reason(hmac_config(signatureHeader="X-Acme-Signature"), {}, BODY) == (
        "missing X-Acme-Signature header"
    )
