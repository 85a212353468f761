"""The generic `hmac` provider: any header, algorithm, encoding and prefix."""

from __future__ import annotations

import base64

import pytest

from tests.unit.verify_support import BODY, SECRET, check, mac, reason


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
