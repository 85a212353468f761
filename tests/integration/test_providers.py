"""Every verification scheme through the real HTTP path (DESIGN §3.1–§3.2)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from typer.testing import CliRunner

from octipus.cli import app as cli_app
from octipus.cli.send import provider_headers
from octipus.ingress.providers.registry import SUPPORTED_PROVIDERS, sign_headers, stamp_body
from tests.support.hooks import make_hook, unique_path
from tests.support.server import ServerProcess

SECRET = "s3cret-value"
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
# provider -> (secret, header a refusal names)
SCHEMES: dict[str, tuple[str, str]] = {
    "github": (SECRET, "X-Hub-Signature-256"),
    "gitlab": (SECRET, "X-Gitlab-Token"),
    "stripe": ("whsec_stripe_secret_1", "Stripe-Signature"),
    "standard": (STANDARD_SECRET, "webhook-signature"),
    "svix": (STANDARD_SECRET, "svix-signature"),
    "slack": (SECRET, "X-Slack-Signature"),
    "shopify": (SECRET, "X-Shopify-Hmac-Sha256"),
    "gitea": (SECRET, "X-Gitea-Signature"),
    "forgejo": (SECRET, "X-Forgejo-Signature"),
    "bitbucket": (SECRET, "X-Hub-Signature"),
    "linear": (SECRET, "Linear-Signature"),
    "hmac": (SECRET, "X-Signature"),
}
TIMESTAMPED = ["stripe", "standard", "svix", "slack", "linear"]


def trigger(provider: str, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"provider": provider, **extra}
    if provider == "hmac":
        config["signatureHeader"] = "X-Signature"
    return config


def hook_for(server: ServerProcess, provider: str, **extra: Any) -> tuple[str, dict]:
    path = unique_path(provider)
    with server.client() as c:
        hook = make_hook(c, path, SCHEMES[provider][0], triggerConfig=trigger(provider, **extra))
    return path, hook


def post(server: ServerProcess, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    headers = {"Content-Type": "application/json", **headers}
    return httpx.post(
        f"{server.url}/api/webhooks/{path}", content=body, headers=headers, timeout=30
    )


def deliver(
    server: ServerProcess,
    path: str,
    provider: str,
    secret: str,
    data: dict[str, Any],
    at: float | None = None,
    event: str | None = None,
) -> httpx.Response:
    """Send `data` signed as `provider` does at time `at` (default now)."""
    at = time.time() if at is None else at
    body = stamp_body(provider, orjson.dumps(data), now_ms=int(at * 1000))
    headers = {
        **provider_headers(provider, event),
        **sign_headers(provider, secret, body, timestamp=int(at)),
    }
    return post(server, path, body, headers)


def rejection_reasons(server: ServerProcess, path: str) -> list[str]:
    with server.client() as c:
        response = c.get("/api/webhooks/rejections", params={"path": path})
    assert response.status_code == 200, response.text
    return [r["reason"] for r in response.json()["rejections"]]


def executions(server: ServerProcess, hook_id: str) -> list[dict]:
    with server.client() as c:
        response = c.get(f"/api/hooks/{hook_id}/executions")
    assert response.status_code == 200, response.text
    return response.json()["executions"]


@pytest.mark.parametrize("provider", list(SCHEMES))
def test_signed_delivery_is_accepted(server: ServerProcess, provider: str):
    path, hook = hook_for(server, provider)
    response = deliver(server, path, provider, SCHEMES[provider][0], {"type": "ping", "n": 1})
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] is True
    assert len(executions(server, hook["id"])) == 1


@pytest.mark.parametrize("provider", [p for p in SCHEMES if p not in ("hmac", "svix")])
def test_auto_hook_accepts_each_provider(server: ServerProcess, provider: str):
    path = unique_path("auto")
    secret = SCHEMES[provider][0]
    with server.client() as c:
        make_hook(c, path, secret)
    response = deliver(server, path, provider, secret, {"type": "ping"})
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("provider", list(SCHEMES))
def test_wrong_secret_is_401_naming_the_header_in_body_and_log(
    server: ServerProcess, provider: str
):
    path, _ = hook_for(server, provider)
    secret = STANDARD_SECRET.replace("Mf", "Xx") if provider in ("standard", "svix") else "wrong-1"
    response = deliver(server, path, provider, secret, {"type": "ping"})
    kind = "token" if provider == "gitlab" else "signature"
    expected = f"{kind} mismatch for {SCHEMES[provider][1]}"
    assert response.status_code == 401
    assert response.json() == {"error": expected}
    assert rejection_reasons(server, path) == [expected]
    assert SCHEMES[provider][0] not in response.text


@pytest.mark.parametrize("provider", [p for p in SCHEMES if p != "gitlab"])
def test_tampered_body_is_401(server: ServerProcess, provider: str):
    path, _ = hook_for(server, provider)
    secret, header = SCHEMES[provider]
    body = stamp_body(provider, b'{"amount":1}', now_ms=int(time.time() * 1000))
    headers = sign_headers(provider, secret, body)
    response = post(server, path, body.replace(b'"amount":1', b'"amount":9'), headers)
    assert response.status_code == 401
    assert response.json() == {"error": f"signature mismatch for {header}"}


@pytest.mark.parametrize("provider", list(SCHEMES))
def test_unsigned_request_is_401_naming_the_missing_header(server: ServerProcess, provider: str):
    path, _ = hook_for(server, provider)
    response = post(server, path, b'{"type":"ping"}', {})
    assert response.status_code == 401
    error = response.json()["error"]
    assert error.startswith("missing ") and SCHEMES[provider][1] in error
    assert rejection_reasons(server, path) == [error]


@pytest.mark.parametrize("provider", TIMESTAMPED)
def test_stale_delivery_is_401_timestamp_outside_tolerance(server: ServerProcess, provider: str):
    path, _ = hook_for(server, provider)
    stale = time.time() - 3600
    response = deliver(server, path, provider, SCHEMES[provider][0], {"type": "ping"}, at=stale)
    assert response.status_code == 401
    assert response.json()["error"].startswith("timestamp outside tolerance")
    assert rejection_reasons(server, path)[0].startswith("timestamp outside tolerance")


@pytest.mark.parametrize("provider", TIMESTAMPED)
def test_far_future_delivery_is_401_timestamp_outside_tolerance(
    server: ServerProcess, provider: str
):
    path, _ = hook_for(server, provider)
    future = time.time() + 3600
    response = deliver(server, path, provider, SCHEMES[provider][0], {"type": "ping"}, at=future)
    assert response.status_code == 401
    assert response.json()["error"].startswith("timestamp outside tolerance")


def test_per_hook_tolerance_accepts_an_older_delivery(server: ServerProcess):
    path, _ = hook_for(server, "stripe", toleranceSeconds=7200)
    secret = SCHEMES["stripe"][0]
    response = deliver(server, path, "stripe", secret, {"type": "ping"}, at=time.time() - 3600)
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("signer", ["current", "rotated"])
def test_either_secret_of_a_rotation_is_accepted(server: ServerProcess, signer: str):
    path, _ = hook_for(server, "stripe", webhookSecrets=["whsec_rotated_secret_2"])
    secret = SCHEMES["stripe"][0] if signer == "current" else "whsec_rotated_secret_2"
    assert deliver(server, path, "stripe", secret, {"type": "ping"}).status_code == 202


def test_auto_hook_refuses_a_request_without_a_signature_header(server: ServerProcess):
    path = unique_path("auto")
    with server.client() as c:
        make_hook(c, path, SECRET)
    response = post(server, path, b'{"type":"ping"}', {"X-Custom-Signature": "sha256=00"})
    assert response.status_code == 401
    assert response.json()["error"].startswith(
        "missing signature header (expected one of X-Hub-Signature-256,"
    )


def test_auto_hook_refuses_a_captured_slack_request_replayed_as_github(server: ServerProcess):
    path = unique_path("auto")
    with server.client() as c:
        make_hook(c, path, SECRET)
    old = int(time.time()) - 3600
    captured = sign_headers("slack", SECRET, b'{"type":"ping"}', timestamp=old)
    body = f"v0:{old}:".encode() + b'{"type":"ping"}'
    mac = captured["X-Slack-Signature"].removeprefix("v0=")
    response = post(server, path, body, {"X-Hub-Signature-256": "sha256=" + mac})
    assert response.status_code == 401
    assert "replay across schemes" in response.json()["error"]


def test_stripe_delivery_id_is_the_event_id_and_a_resend_is_a_duplicate(server: ServerProcess):
    path, hook = hook_for(server, "stripe")
    event = {"id": f"evt_{uuid.uuid4().hex[:12]}", "type": "invoice.paid"}
    first = deliver(server, path, "stripe", SCHEMES["stripe"][0], event)
    assert first.status_code == 202 and first.json()["deliveryId"] == event["id"]
    again = deliver(server, path, "stripe", SCHEMES["stripe"][0], event, at=time.time() + 1)
    assert again.status_code == 200 and again.json() == {"received": True, "duplicate": True}
    [execution] = executions(server, hook["id"])
    assert execution["deliveryId"] == event["id"]


def test_standard_webhooks_event_type_comes_from_the_body(server: ServerProcess):
    path, hook = hook_for(server, "standard")
    response = deliver(server, path, "standard", STANDARD_SECRET, {"type": "user.created"})
    assert response.status_code == 202
    assert response.json()["deliveryId"].startswith("msg_")
    [execution] = executions(server, hook["id"])
    assert execution["triggerContext"]["event"] == "user.created"


@pytest.mark.parametrize("provider", ["slack", "auto"])
def test_slack_url_verification_challenge_is_answered(server: ServerProcess, provider: str):
    path = unique_path("slack")
    with server.client() as c:
        hook = make_hook(c, path, SECRET, triggerConfig={"provider": provider})
    data = {"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmH"}
    response = deliver(server, path, "slack", SECRET, data)
    assert response.status_code == 200
    assert response.json() == {"challenge": data["challenge"]}
    assert executions(server, hook["id"]) == []


def test_unsigned_slack_challenge_is_not_answered(server: ServerProcess):
    path, _ = hook_for(server, "slack")
    response = post(server, path, b'{"type":"url_verification","challenge":"x"}', {})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"provider": "standard"}, "triggerConfig.webhookSecret"),
        ({"provider": "hmac"}, "triggerConfig.signatureHeader"),
        (
            {"provider": "hmac", "signatureHeader": "X-Sig", "algorithm": "md5"},
            "triggerConfig.algorithm",
        ),
        ({"toleranceSeconds": 0}, "triggerConfig.toleranceSeconds"),
        ({"provider": "pigeon"}, "triggerConfig.provider"),
    ],
)
def test_hook_with_invalid_verification_config_is_refused_naming_the_field(
    server: ServerProcess, config: dict[str, Any], field: str
):
    body = {
        "name": f"bad {uuid.uuid4().hex[:6]}",
        "trigger": "webhook",
        "triggerConfig": {"webhookPath": unique_path(), "webhookSecret": "plain secret!", **config},
        "action": "notify",
        "actionConfig": {"notifyOwner": True},
    }
    with server.client() as c:
        response = c.post("/api/hooks", json=body)
    assert response.status_code == 400
    assert field in response.json()["error"]
    assert "plain secret!" not in response.text


@pytest.mark.parametrize("provider", list(SCHEMES))
def test_octipus_send_signs_for_every_provider(server: ServerProcess, provider: str):
    path, _ = hook_for(server, provider)
    args = ["send", path, "--provider", provider, "--secret", SCHEMES[provider][0]]
    args += ["--data", '{"type":"ping"}', "--url", server.url]
    if provider == "hmac":
        args += ["--signature-header", "X-Signature"]
    done = CliRunner().invoke(cli_app, args)
    assert done.exit_code == 0, done.output
    assert done.output.startswith("202 ")


# Header values h11 will put on the wire: visible latin-1 with inner spaces.
wire_text = st.text(
    st.characters(codec="latin-1", exclude_categories=("Cc", "Zl", "Zp")), max_size=60
).map(str.strip)
junk_headers = st.dictionaries(
    st.sampled_from(
        [
            "X-Hub-Signature-256",
            "X-Hub-Signature",
            "Stripe-Signature",
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "svix-signature",
            "X-Slack-Signature",
            "X-Slack-Request-Timestamp",
            "Linear-Signature",
            "X-Gitlab-Token",
            "X-Shopify-Hmac-Sha256",
            "X-Gitea-Signature",
            "Content-Type",
            "X-GitHub-Event",
            "Idempotency-Key",
        ]
    ),
    wire_text,
    max_size=6,
)


@pytest.fixture(scope="module")
def junk_paths(server: ServerProcess) -> list[str]:
    paths = []
    with server.client() as c:
        for config in (
            {},
            {"provider": "stripe"},
            {"provider": "linear"},
            {"provider": "gitlab", "webhookSecrets": [STANDARD_SECRET]},
        ):
            path = unique_path("junk")
            make_hook(c, path, SECRET, triggerConfig=config)
            paths.append(path)
    return paths


@settings(max_examples=50, deadline=None)
@given(headers=junk_headers, body=st.binary(max_size=200), index=st.integers(0, 3))
def test_arbitrary_headers_and_bodies_never_cause_a_5xx(
    server: ServerProcess, junk_paths: list[str], headers: dict, body: bytes, index: int
):
    encoded = {k: v.encode("latin-1") for k, v in headers.items()}
    response = httpx.post(
        f"{server.url}/api/webhooks/{junk_paths[index]}", content=body, headers=encoded, timeout=30
    )
    assert response.status_code < 500, response.text
    if response.status_code == 401:
        assert SECRET not in response.text


def twilio_hook(server: ServerProcess) -> str:
    path = unique_path("twilio")
    with server.client() as c:
        make_hook(c, path, SECRET, triggerConfig={"provider": "twilio"})
    return path


def post_twilio_form(server: ServerProcess, path: str, signed_url: str) -> httpx.Response:
    """A form POST to `path` signed by Twilio's own library as if sent to `signed_url`."""
    params = {"From": "+15550001111", "Body": "hello"}
    signature = RequestValidator(SECRET).compute_signature(signed_url, params)
    return httpx.post(
        f"{server.url}/api/webhooks/{path}",
        data=params,
        headers={"X-Twilio-Signature": signature},
        timeout=30,
    )


def test_a_twilio_delivery_signed_for_the_request_url_is_accepted(server: ServerProcess):
    path = twilio_hook(server)
    response = post_twilio_form(server, path, f"{server.url}/api/webhooks/{path}")
    assert response.status_code == 202, response.text


def test_twilio_is_verified_against_the_public_url(server_factory):
    server = server_factory(env={"OCTIPUS_PUBLIC_URL": "https://hooks.example.com"})
    path = twilio_hook(server)
    public = post_twilio_form(server, path, f"https://hooks.example.com/api/webhooks/{path}")
    assert public.status_code == 202, public.text
    local = post_twilio_form(server, path, f"{server.url}/api/webhooks/{path}")
    assert local.status_code == 401
    assert "OCTIPUS_PUBLIC_URL" in local.json()["error"]


@pytest.mark.parametrize(
    ("content_type", "data"),
    [("application/json", '{"type":"ping"}'), ("application/x-www-form-urlencoded", "Body=hi")],
)
def test_octipus_send_signs_for_twilio(server: ServerProcess, content_type: str, data: str):
    path = twilio_hook(server)
    args = ["send", path, "--provider", "twilio", "--secret", SECRET, "--data", data]
    args += ["--content-type", content_type, "--url", server.url]
    done = CliRunner().invoke(cli_app, args)
    assert done.exit_code == 0, done.output
    assert done.output.startswith("202 ")


def test_the_hook_form_offers_every_registered_provider(server: ServerProcess):
    page = httpx.get(f"{server.url}/ui/hooks/new", timeout=30)
    assert page.status_code == 200
    for name in SUPPORTED_PROVIDERS:
        assert f'<option value="{name}">' in page.text
