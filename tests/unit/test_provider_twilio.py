"""Twilio's `X-Twilio-Signature`, checked against Twilio's own library (twilio.request_validator)
in both directions: what Twilio signs verifies here, and what Octipus signs Twilio accepts."""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from octipus.ingress.providers.registry import detect_provider, sign_headers
from octipus.ingress.providers.twilio import signed_url
from tests.unit.verify_support import SECRET, check, reason

CONFIG = {"provider": "twilio", "webhookSecret": SECRET}
URL = "https://hooks.example.com/api/webhooks/sms?tenant=a"
FORM_PARAMS = {"From": "+15550001111", "Body": "hello & bye", "To": "+15552223333"}
FORM = urlencode(FORM_PARAMS).encode()
JSON = b'{"event":"call.completed","sid":"CA123"}'
TWILIO = RequestValidator(SECRET)


def twilio_header(url: str, params: dict[str, str]) -> dict[str, str]:
    """The header Twilio's library computes for a request to `url`."""
    return {"X-Twilio-Signature": TWILIO.compute_signature(url, params)}


def json_url(body: bytes) -> str:
    return f"{URL}&bodySHA256={hashlib.sha256(body).hexdigest()}"


def test_a_form_request_signed_by_twilio_verifies():
    verifies(twilio_header(URL, FORM_PARAMS), FORM, URL)


def test_a_json_request_signed_by_twilio_with_its_body_hash_verifies():
    url = json_url(JSON)
    verifies(twilio_header(url, {}), JSON, url)


def test_a_json_body_changed_after_signing_is_refused_by_the_body_hash():
    url = json_url(JSON)
    refused = _reason(twilio_header(url, {}), JSON.replace(b"CA123", b"CA124"), url)
    assert refused == "bodySHA256 in the URL is not the body's SHA-256"


def test_a_changed_form_parameter_is_refused():
    headers = twilio_header(URL, FORM_PARAMS)
    tampered = urlencode({**FORM_PARAMS, "Body": "hello & buy"}).encode()
    assert _reason(headers, tampered, URL).startswith("signature mismatch for X-Twilio-Signature")


def test_a_request_to_another_url_is_refused_naming_the_public_url_setting():
    headers = twilio_header(URL, FORM_PARAMS)
    refused = _reason(headers, FORM, URL.replace("tenant=a", "tenant=b"))
    assert "OCTIPUS_PUBLIC_URL" in refused


@pytest.mark.parametrize(
    ("signed", "received"),
    [
        (
            "https://hooks.example.com/api/webhooks/sms",
            "https://hooks.example.com:443/api/webhooks/sms",
        ),
        (
            "https://hooks.example.com:443/api/webhooks/sms",
            "https://hooks.example.com/api/webhooks/sms",
        ),
    ],
)
def test_the_default_port_may_be_written_or_left_out(signed: str, received: str):
    verifies(twilio_header(signed, FORM_PARAMS), FORM, received)


@pytest.mark.parametrize("url", ["", "http://[::1/api/webhooks/sms", "https://h.example:99999/p"])
def test_an_unusable_request_url_is_refused_not_an_error(url: str):
    refused = _reason(twilio_header(URL, FORM_PARAMS), FORM, url)
    assert refused.startswith(("X-Twilio-Signature covers", "signature mismatch"))


def test_a_request_without_the_signature_header_is_refused():
    assert _reason({}, FORM, URL) == "missing X-Twilio-Signature header"


def test_octipus_signatures_validate_with_twilios_library():
    form_headers = sign_headers(
        "twilio", SECRET, FORM, url=URL, content_type="application/x-www-form-urlencoded"
    )
    assert TWILIO.validate(URL, FORM_PARAMS, form_headers["X-Twilio-Signature"])
    url = signed_url(URL, JSON, "application/json")
    json_headers = sign_headers("twilio", SECRET, JSON, url=url)
    assert TWILIO.validate(url, JSON.decode(), json_headers["X-Twilio-Signature"])


def test_a_form_body_is_posted_to_the_url_unchanged_and_json_gets_its_body_hash():
    assert signed_url(URL, FORM, "application/x-www-form-urlencoded; charset=utf-8") == URL
    assert signed_url(URL, JSON, "application/json") == json_url(JSON)


def test_auto_detects_twilio_and_verifies_with_the_hook_secret():
    headers = twilio_header(URL, FORM_PARAMS)
    assert getattr(detect_provider({k.lower(): v for k, v in headers.items()}), "name", "") == (
        "twilio"
    )
    verifies(headers, FORM, URL, {"webhookSecret": SECRET})


def verifies(headers: dict[str, str], body: bytes, url: str, config: dict | None = None) -> None:
    """Verify against a Twilio hook (or `config`); raises VerificationError if refused."""
    check(config or CONFIG, headers, body, url=url)


def _reason(headers: dict[str, str], body: bytes, url: str) -> str:
    return reason(CONFIG, headers, body, url=url)
