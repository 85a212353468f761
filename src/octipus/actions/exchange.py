"""What an attempt sent and got back, as the execution log keeps it: bounded, never a secret."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from octipus.ingress.headers import SENSITIVE_HEADERS
from octipus.net.http import Reply

BODY_EXCERPT_BYTES = 4096
REDACTED = "[redacted]"
# Header names that carry credentials by convention, beyond the known ones (custom
# `webhookHeaders` such as X-Auth-Token or X-Service-Key): their values are never kept.
_SECRET_NAME = re.compile(r"auth|token|secret|signature|key|password|cookie|session", re.I)


def safe_header_values(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers with the values of credentials and signatures replaced by `[redacted]`."""
    return {name: REDACTED if _is_secret(name) else value for name, value in headers.items()}


def _is_secret(name: str) -> bool:
    return name.lower() in SENSITIVE_HEADERS or bool(_SECRET_NAME.search(name))


def safe_url(url: str) -> str:
    """The URL without user:password@ (kept out of the log like an Authorization header)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _excerpt(body: bytes | None) -> dict[str, Any]:
    body = body or b""
    return {
        "body": body[:BODY_EXCERPT_BYTES].decode("utf-8", errors="replace"),
        "bodyBytes": len(body),
        "bodyTruncated": len(body) > BODY_EXCERPT_BYTES,
    }


def summarize(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    reply: Reply | None,
) -> dict[str, Any]:
    """`{"request": …, "response": … | None}` for the attempt log (`reply` None: no answer)."""
    request = {
        "method": method,
        "url": safe_url(url),
        "headers": safe_header_values(headers),
        **_excerpt(body),
    }
    response = None
    if reply is not None:
        response = {
            "status": reply.status,
            "reason": reply.reason,
            "headers": safe_header_values(dict(reply.headers)),
            **_excerpt(reply.body),
        }
        response["bodyTruncated"] = response["bodyTruncated"] or reply.truncated
    return {"request": request, "response": response}
