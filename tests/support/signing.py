"""Signing helpers and fixture payloads shared by tests."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

SHARED = Path(os.environ.get("OCTIPUS_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))
FIXTURES = SHARED / "fixtures"


def fixture_bytes(provider: str, name: str) -> bytes:
    """Raw bytes of a shared fixture, e.g. fixture_bytes("github", "push")."""
    return (FIXTURES / provider / f"{name}.payload.json").read_bytes()


def github_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
