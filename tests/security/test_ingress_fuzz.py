"""Hypothesis against the real ingress: signed deliveries of any shape never get a 5xx, and
neither do the pages that show what they stored."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.hooks import make_hook, unique_path
from tests.support.server import ServerProcess
from tests.support.signing import github_signature

SECRET = "fuzz-secret-value"
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/x-www-form-urlencoded",
        "text/plain",
        "application/octet-stream",
        "multipart/form-data; boundary=x",
        "",
        "application/json; charset=latin-1",
    ]
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)
BODIES = (
    JSON_VALUES.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=300)
    | st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n)
    | st.text(max_size=200).map(lambda t: ("payload=" + t).encode())
)
# What an HTTP/1.1 client can put in a header value (no surrounding whitespace).
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60).map(
    str.strip
)


@pytest.fixture(scope="module")
def fuzz_hook(server: ServerProcess) -> dict[str, Any]:
    with server.client() as client:
        return make_hook(client, unique_path("fuzz"), SECRET)


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    body=BODIES,
    content_type=CONTENT_TYPES,
    event=HEADER_TEXT,
    delivery=HEADER_TEXT,
    extra=st.dictionaries(st.from_regex(r"\AX-[A-Za-z0-9-]{1,20}\Z"), HEADER_TEXT, max_size=5),
)
def test_signed_delivery_of_any_shape_gets_no_server_error(
    server: ServerProcess,
    fuzz_hook: dict[str, Any],
    body: bytes,
    content_type: str,
    event: str,
    delivery: str,
    extra: dict[str, str],
):
    path = fuzz_hook["triggerConfig"]["webhookPath"]
    headers = {
        **extra,
        "Content-Type": content_type,
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": github_signature(SECRET, body),
    }
    response = httpx.post(
        f"{server.url}/api/webhooks/{path}", content=body, headers=headers, timeout=30
    )
    assert response.status_code < 500, response.text
    assert response.status_code in (200, 202, 400, 413, 415, 422), response.text


def test_pages_showing_fuzzed_deliveries_get_no_server_error(
    server: ServerProcess, fuzz_hook: dict[str, Any]
):
    """Runs after the fuzz above (same module): every stored execution renders."""
    with server.client() as client:
        listing = client.get(f"/api/hooks/{fuzz_hook['id']}/executions", params={"limit": 200})
        assert listing.status_code == 200, listing.text
        assert listing.json()["executions"], "the fuzz above stored no execution"
        for execution in listing.json()["executions"]:
            shown = client.get(f"/api/executions/{execution['id']}")
            assert shown.status_code == 200, shown.text
        assert client.get("/api/executions", params={"limit": 200}).status_code == 200
        rejections = client.get(
            "/api/webhooks/rejections", params={"path": fuzz_hook["triggerConfig"]["webhookPath"]}
        )
        assert rejections.status_code == 200, rejections.text
