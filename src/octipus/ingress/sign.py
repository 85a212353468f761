"""Sign a request the way a provider does (used by `octipus send` and the benchmarks)."""

from __future__ import annotations

import hashlib
import hmac


def sign_headers(provider: str, secret: str, body: bytes) -> dict[str, str]:
    """The signature headers `provider` would send for `body`."""
    if provider in ("github", "auto"):
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {"X-Hub-Signature-256": f"sha256={digest}"}
    raise ValueError(f"cannot sign for provider '{provider}'")


SIGNABLE_PROVIDERS = ("github",)
