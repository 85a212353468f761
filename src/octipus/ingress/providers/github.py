"""GitHub: `X-Hub-Signature-256: sha256=<hex>` of the body; legacy SHA-1 only when allowed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from octipus.ingress.providers.core import (
    Detect,
    Provider,
    Request,
    SignOptions,
    TriggerConfigBase,
    VerificationError,
)
from octipus.ingress.providers.mac import BodySignature, hex_mac, utf8_keys

SHA256 = BodySignature(("X-Hub-Signature-256",), "sha256=")
SHA1 = BodySignature(("X-Hub-Signature",), "sha1=", "sha1")
ALLOW_SHA1 = Field(
    default=None, description="true accepts the legacy SHA-1 X-Hub-Signature; default false"
)


class GitHubConfig(TriggerConfigBase):
    provider: Literal["github"]
    allowSha1: bool | None = ALLOW_SHA1


@dataclass(frozen=True)
class GitHubVerifier:
    """`X-Hub-Signature-256: sha256=<hex>`; legacy SHA-1 `X-Hub-Signature` only when allowed."""

    keys: tuple[bytes, ...]
    allow_sha1: bool = False
    provider: str = "github"

    def verify(self, request: Request) -> None:
        headers = request.headers
        if "x-hub-signature-256" in headers or "x-hub-signature" not in headers:
            SHA256.check(request, self.keys)
        elif self.allow_sha1:
            SHA1.check(request, self.keys)
        else:
            raise VerificationError(
                "X-Hub-Signature (SHA-1) is not accepted: send X-Hub-Signature-256,"
                " or set triggerConfig.allowSha1 to true for a sender that only signs with SHA-1",
                "X-Hub-Signature",
            )


def build(config: GitHubConfig, name: str) -> GitHubVerifier:
    return GitHubVerifier(utf8_keys(config.secrets), bool(config.allowSha1))


def sign(name: str, secret: str, body: bytes, options: SignOptions) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + hex_mac(secret, body)}


PROVIDER = Provider(
    names=("github",),
    titles=("GitHub",),
    config=GitHubConfig,
    build=build,
    sign=sign,
    signature_headers=("X-Hub-Signature-256", "X-Hub-Signature"),
    # The bare X-Hub-Signature is Bitbucket's when it holds sha256=, else GitHub's legacy SHA-1.
    detect=(Detect("X-Hub-Signature-256", 50), Detect("X-Hub-Signature", 81)),
    event_header="X-GitHub-Event",
    delivery_headers=("X-GitHub-Delivery",),
    body_signed=True,
)
