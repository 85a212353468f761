"""Event type and delivery id of a verified request (DESIGN §3.1), and provider handshakes."""

from __future__ import annotations

import pytest

from octipus.ingress.event import delivery_id, event_type
from octipus.ingress.providers.registry import handshake_response


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-github-event": "push"}, "push"),
        ({"x-gitlab-event": "Push Hook"}, "Push Hook"),
        ({"x-gitea-event": "push"}, "push"),
        ({"x-shopify-topic": "orders/create"}, "orders/create"),
        ({"linear-event": "Issue"}, "Issue"),
        ({"x-event-key": "repo:push"}, "repo:push"),
    ],
)
def test_event_type_comes_from_the_provider_header(headers: dict, expected: str):
    assert event_type(headers, {"type": "ignored"}) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"type": "payment_intent.succeeded"}, "payment_intent.succeeded"),  # Stripe
        ({"type": "user.created", "data": {}}, "user.created"),  # Standard Webhooks / Svix
        ({"event": "deploy"}, "deploy"),
        ({"type": 5, "event": "fallback"}, "fallback"),
        ({"other": 1}, None),
        ("plain text", None),
        (None, None),
    ],
)
def test_event_type_falls_back_to_the_body(body: object, expected: str | None):
    assert event_type({"webhook-id": "msg_1"}, body) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-github-delivery": "gh-1"}, "gh-1"),
        ({"x-gitea-delivery": "gt-1"}, "gt-1"),
        ({"x-gitlab-event-uuid": "gl-1", "idempotency-key": "later"}, "gl-1"),
        ({"x-gitlab-webhook-uuid": "gl-2"}, "gl-2"),
        ({"webhook-id": "msg_1"}, "msg_1"),
        ({"svix-id": "msg_2"}, "msg_2"),
        ({"x-shopify-webhook-id": "sh-1"}, "sh-1"),
        ({"linear-delivery": "ln-1"}, "ln-1"),
        ({"idempotency-key": "ik-1"}, "ik-1"),
        ({"x-idempotency-key": "ik-2"}, "ik-2"),
    ],
)
def test_delivery_id_comes_from_the_first_header_present(headers: dict, expected: str):
    assert delivery_id(headers, {"id": "evt_ignored"}) == expected


def test_stripe_delivery_id_is_the_event_id_in_the_body():
    assert delivery_id({"stripe-signature": "t=1,v1=00"}, {"id": "evt_123"}) == "evt_123"


def test_body_id_is_not_a_delivery_id_for_other_providers():
    assert delivery_id({"x-hub-signature-256": "sha256=00"}, {"id": "123"}) is None


def test_long_values_are_cut_to_the_column_size():
    assert len(delivery_id({"webhook-id": "m" * 500}, None) or "") == 200


@pytest.mark.parametrize("provider", ["slack", "auto"])
def test_slack_url_verification_is_answered_with_the_challenge(provider: str):
    body = {
        "type": "url_verification",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
    }
    assert handshake_response(provider, body) == {"challenge": body["challenge"]}


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("github", {"type": "url_verification", "challenge": "x"}),
        ("slack", {"type": "event_callback", "challenge": "x"}),
        ("slack", {"type": "url_verification", "challenge": {"not": "text"}}),
        ("slack", "type=url_verification"),
    ],
)
def test_other_requests_are_not_handshakes(provider: str, body: object):
    assert handshake_response(provider, body) is None


def test_bitbucket_request_uuid_is_the_delivery_id():
    assert delivery_id({"x-request-uuid": "bb-1", "x-event-key": "repo:push"}, {}) == "bb-1"
