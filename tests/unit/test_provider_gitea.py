"""Gitea, Forgejo and Gogs: the bare hex HMAC of the raw body in their own header."""

from __future__ import annotations

import pytest

from tests.unit.verify_support import BODY, SECRET, check, mac, reason


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
