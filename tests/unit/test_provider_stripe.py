"""Stripe: `Stripe-Signature: t=…,v1=…`, signed by the `stripe` library, and its mirror."""

from __future__ import annotations

import time

import stripe

from octipus.ingress.providers.registry import sign_headers
from tests.unit.verify_support import NOW, check, reason

SECRET = "whsec_test_0123456789abcdef"
STRIPE = {"provider": "stripe", "webhookSecret": SECRET}
BODY = b'{"id":"evt_1","object":"event","type":"payment_intent.succeeded"}'


def stripe_header(secret: str = SECRET, timestamp: int = NOW, body: bytes = BODY) -> str:
    return stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp)


def test_header_generated_by_the_stripe_library_verifies():
    check(STRIPE, {"Stripe-Signature": stripe_header()}, BODY)


def test_auto_detects_stripe():
    check({"webhookSecret": SECRET}, {"Stripe-Signature": stripe_header()}, BODY)


def test_stripe_library_accepts_what_octipus_send_signs():
    headers = sign_headers("stripe", SECRET, BODY)
    event = stripe.Webhook.construct_event(BODY.decode(), headers["Stripe-Signature"], SECRET)
    assert event["id"] == "evt_1"


def test_any_of_several_v1_signatures_verifies():
    good = stripe_header().split(",v1=")[1]
    forged = stripe_header("whsec_other").split(",v1=")[1]
    header = f"t={NOW},v1={forged},v1={good},v0=abcdef"
    check(STRIPE, {"Stripe-Signature": header}, BODY)


def test_only_v0_signatures_are_malformed():
    v1 = stripe_header().split(",v1=")[1]
    assert reason(STRIPE, {"Stripe-Signature": f"t={NOW},v0={v1}"}, BODY) == (
        "malformed Stripe-Signature header: expected t=<unix seconds>,v1=<hex>"
    )


def test_missing_timestamp_is_malformed():
    v1 = stripe_header().split(",v1=")[1]
    assert reason(STRIPE, {"Stripe-Signature": f"v1={v1}"}, BODY).startswith(
        "malformed Stripe-Signature header"
    )


def test_truncated_signature_is_a_mismatch():
    assert reason(STRIPE, {"Stripe-Signature": stripe_header()[:-2]}, BODY) == (
        "signature mismatch for Stripe-Signature"
    )


def test_changed_timestamp_breaks_the_signature():
    header = stripe_header().replace(f"t={NOW}", f"t={NOW + 1}")
    assert reason(STRIPE, {"Stripe-Signature": header}, BODY) == (
        "signature mismatch for Stripe-Signature"
    )


def test_missing_header_is_named():
    assert reason(STRIPE, {}, BODY) == "missing Stripe-Signature header"


def test_stale_request_signed_by_stripe_is_outside_tolerance():
    refused = reason(STRIPE, {"Stripe-Signature": stripe_header()}, BODY, now=NOW + 301)
    assert refused.startswith("timestamp outside tolerance: Stripe-Signature is 301 s old")


def test_far_future_request_is_outside_tolerance():
    refused = reason(STRIPE, {"Stripe-Signature": stripe_header()}, BODY, now=NOW - 301)
    assert refused.startswith(
        "timestamp outside tolerance: Stripe-Signature is 301 s in the future"
    )


def test_live_request_signed_now_verifies_at_the_real_time():
    header = stripe_header(timestamp=int(time.time()))
    check(STRIPE, {"Stripe-Signature": header}, BODY, now=time.time())
