"""Property tests: no input makes a verifier raise anything but VerificationError, and every
scheme's signature covers every byte of the body."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from octipus.ingress.providers.core import VerificationError
from octipus.ingress.providers.registry import DETECT_ORDER, SIGNABLE_PROVIDERS, stamp_body
from octipus.ingress.providers.verifier import build_verifier
from tests.unit.verify_support import NOW, SECRET, STANDARD_SECRET, check, request, signed

CONFIGS: list[dict[str, Any]] = [
    {"webhookSecret": SECRET},
    {"webhookSecret": SECRET, "allowSha1": True, "webhookSecrets": [STANDARD_SECRET]},
    {"webhookSecret": "ü\ud800 odd"},
    *(
        {"provider": p, "webhookSecret": SECRET}
        for p in ("github", "gitlab", "stripe", "slack", "shopify", "gitea", "bitbucket", "linear")
    ),
    {"provider": "standard", "webhookSecret": STANDARD_SECRET},
    {"provider": "svix", "webhookSecret": STANDARD_SECRET},
    {"provider": "gitlab", "webhookSecret": SECRET, "webhookSecrets": [STANDARD_SECRET]},
    {
        "provider": "hmac",
        "webhookSecret": SECRET,
        "signatureHeader": "X-Sig",
        "prefix": "sha1=",
        "algorithm": "sha1",
        "encoding": "base64",
    },
    {"provider": "twilio", "webhookSecret": SECRET},
    {"provider": "nonsense", "webhookSecret": SECRET},
    {},
]
VERIFIERS = [build_verifier(config) for config in CONFIGS]

KNOWN_HEADERS = [rule.header.lower() for rule, _ in DETECT_ORDER] + [
    "webhook-id",
    "webhook-timestamp",
    "svix-id",
    "svix-timestamp",
    "x-slack-request-timestamp",
    "i-twilio-idempotency-token",
    "x-sig",
    "content-type",
]
any_text = st.text(st.characters(exclude_categories=()), max_size=80)
shaped_text = st.from_regex(
    r"(sha256=|sha1=|v0=|v1,|t=[0-9]{0,12},v1=|)[0-9a-fA-F+/=, ]{0,70}", fullmatch=True
)
header_values = st.one_of(any_text, shaped_text, st.sampled_from(["", " ", str(NOW), "1e9"]))
headers = st.dictionaries(
    st.one_of(st.sampled_from(KNOWN_HEADERS), st.text(min_size=1, max_size=20)),
    header_values,
    max_size=8,
)
bodies = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda ts: b'{"webhookTimestamp":' + ts.encode() + b"}",
        st.sampled_from(["1e400", "-0", "18446744073709551616", "true", '"x"', "1.5"]),
    ),
)
# What URL-signing schemes (Twilio) read: odd ports, hosts and query strings included.
urls = st.one_of(
    st.sampled_from(
        ["", "https://h.example/p?bodySHA256=00", "http://[::1/x", "https://h.example:99999/p"]
    ),
    st.builds(lambda q: "https://h.example/p?" + q, any_text),
)
nows = st.one_of(st.floats(allow_nan=True), st.just(float(NOW)))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(headers=headers, body=bodies, now=nows, url=urls)
def test_verifiers_raise_only_verification_error(headers: dict, body: bytes, now: float, url: str):
    req = request(headers, body, now, url)
    for verifier in VERIFIERS:
        try:
            verifier.verify(req)
        except VerificationError as refused:
            assert refused.reason and SECRET not in refused.reason


# GitLab's token mode sends the secret itself, not a signature over the body; Twilio signs a
# form body's parsed parameters (tests/unit/test_provider_twilio.py covers its body hash).
SIGNERS = [p for p in SIGNABLE_PROVIDERS if p not in ("gitlab", "twilio")]


def pinned(provider: str) -> tuple[dict[str, Any], str]:
    secret = STANDARD_SECRET if provider in ("standard", "svix") else SECRET
    config = {"provider": provider, "webhookSecret": secret}
    if provider == "hmac":
        config["signatureHeader"] = "X-Signature"
    return config, secret


@pytest.mark.parametrize("provider", SIGNERS)
@settings(max_examples=30, deadline=None)
@given(body=st.binary(max_size=200), data=st.data())
def test_signature_covers_every_byte_of_the_body(provider: str, body: bytes, data: st.DataObject):
    config, secret = pinned(provider)
    if provider == "linear":  # Linear's timestamp lives in a JSON object body
        body = stamp_body(provider, b'{"data":"%s"}' % body.hex().encode(), now_ms=NOW * 1000)
    headers = signed(provider, secret, body)
    check(config, headers, body)
    if body:
        index = data.draw(st.integers(0, len(body) - 1))
        flipped = body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1 :]
        with pytest.raises(VerificationError):
            check(config, headers, flipped)
