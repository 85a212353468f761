"""The benchmark's request: a ~2 KB GitHub push payload and its HMAC-SHA256 signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURE = Path("fixtures", "github", "push.payload.json")


def _shared_dir() -> Path:
    """$OCTIPUS_SHARED_DIR, else the nearest `shared` folder with the fixtures beside the
    repository or above it (a git worktree sits one level deeper)."""
    if "OCTIPUS_SHARED_DIR" in os.environ:
        return Path(os.environ["OCTIPUS_SHARED_DIR"])
    found = (p / "shared" for p in REPO.parents if (p / "shared" / FIXTURE).is_file())
    return next(found, REPO.parent / "shared")


PUSH_FIXTURE = _shared_dir() / FIXTURE
SECRET = "bench-hmac-secret-0123456789"
TARGET_BYTES = 2048


def push_payload(target: int = TARGET_BYTES) -> bytes:
    """GitHub's push fixture, compact, with `repository` trimmed so the body is ~`target` bytes."""
    full = json.loads(PUSH_FIXTURE.read_text())
    repository = full.pop("repository")
    trimmed: dict[str, object] = {**full, "repository": {}}
    for key, value in repository.items():
        trimmed["repository"][key] = value  # type: ignore[index]
        if len(_compact(trimmed)) > target:
            del trimmed["repository"][key]  # type: ignore[attr-defined]
            break
    body = _compact(trimmed)
    pad = target - len(body) - len(',"_pad":""')
    if pad > 0:
        body = _compact({**trimmed, "_pad": "x" * pad})
    return body


def _compact(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def github_signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
