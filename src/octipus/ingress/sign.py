"""Sign a request the way each provider does (the mirror of verify.py).

Used by `octipus send`, the tests and the benchmarks. Every header a scheme needs is included
(timestamps, message ids), so the result verifies against a hook pinned to that provider.
"""

from __future__ import annotations

import base64
import time
import uuid

import orjson

from octipus.ingress.verify import hmac_digest, standard_key, text_bytes

SIGNABLE_PROVIDERS = (
    "github",
    "gitlab",
    "stripe",
    "standard",
    "svix",
    "slack",
    "shopify",
    "gitea",
    "forgejo",
    "bitbucket",
    "linear",
    "hmac",
)


def _hex(secret: str, message: bytes, algorithm: str = "sha256") -> str:
    return hmac_digest(text_bytes(secret), message, algorithm).hex()


def _base64(key: bytes, message: bytes, algorithm: str = "sha256") -> str:
    return base64.b64encode(hmac_digest(key, message, algorithm)).decode()


def _standard(secret: str, body: bytes, ts: int, msg_id: str | None, family: str) -> dict[str, str]:
    key = standard_key(secret)
    if key is None:
        raise ValueError("a Standard Webhooks secret is whsec_ followed by base64")
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    signature = _base64(key, f"{msg_id}.{ts}.".encode() + body)
    return {
        f"{family}-id": msg_id,
        f"{family}-timestamp": str(ts),
        f"{family}-signature": f"v1,{signature}",
    }


def sign_headers(
    provider: str,
    secret: str,
    body: bytes,
    *,
    timestamp: int | None = None,
    message_id: str | None = None,
    signature_header: str = "X-Signature",
    algorithm: str = "sha256",
    encoding: str = "hex",
    prefix: str = "",
) -> dict[str, str]:
    """The signature headers `provider` would send for `body` (`auto` signs like GitHub).

    `timestamp` (Unix seconds, default now) and `message_id` feed the timestamped schemes;
    the `hmac` scheme takes `signature_header`, `algorithm`, `encoding` and `prefix`.
    A gitlab secret starting with `whsec_` is a signing token: Standard Webhooks headers.
    Linear's timestamp lives in the body: see `stamp_body`.
    """
    ts = int(time.time()) if timestamp is None else timestamp
    if provider in ("github", "auto"):
        return {"X-Hub-Signature-256": "sha256=" + _hex(secret, body)}
    if provider == "gitlab":
        if secret.startswith("whsec_"):
            return _standard(secret, body, ts, message_id, "webhook")
        return {"X-Gitlab-Token": secret}
    if provider == "stripe":
        return {"Stripe-Signature": f"t={ts},v1={_hex(secret, f'{ts}.'.encode() + body)}"}
    if provider in ("standard", "svix"):
        return _standard(secret, body, ts, message_id, "svix" if provider == "svix" else "webhook")
    if provider == "slack":
        return {
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": "v0=" + _hex(secret, f"v0:{ts}:".encode() + body),
        }
    if provider == "shopify":
        return {"X-Shopify-Hmac-Sha256": _base64(text_bytes(secret), body)}
    if provider in ("gitea", "forgejo"):
        return {f"X-{provider.capitalize()}-Signature": _hex(secret, body)}
    if provider == "bitbucket":
        return {"X-Hub-Signature": "sha256=" + _hex(secret, body)}
    if provider == "linear":
        return {"Linear-Signature": _hex(secret, body)}
    if provider == "hmac":
        if encoding == "base64":
            return {signature_header: prefix + _base64(text_bytes(secret), body, algorithm)}
        return {signature_header: prefix + _hex(secret, body, algorithm)}
    raise ValueError(
        f"cannot sign for provider {provider!r}; use one of {', '.join(SIGNABLE_PROVIDERS)}"
    )


def stamp_body(provider: str, body: bytes, now_ms: int | None = None) -> bytes:
    """Add Linear's `webhookTimestamp` (Unix ms) to a JSON object body that lacks one."""
    if provider != "linear":
        return body
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if not isinstance(payload, dict) or "webhookTimestamp" in payload:
        return body
    payload["webhookTimestamp"] = int(time.time() * 1000) if now_ms is None else now_ms
    return orjson.dumps(payload)
