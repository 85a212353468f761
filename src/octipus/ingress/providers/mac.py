"""The one HMAC helper every provider uses: digests, constant-time compares, header parsing.

Every check reads the raw bytes before anything is parsed, compares in constant time, and
raises only `VerificationError` naming the header it expected, never a secret or an expected
value. Timestamped schemes check the signature first, so "timestamp outside tolerance" means the
secret was right and the clock (or a replay) is the problem.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from octipus.ingress.providers.core import Request, VerificationError

ALGORITHMS = ("sha1", "sha256", "sha512")
ENCODINGS = ("hex", "base64")

_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


def hmac_digest(secret: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.digest(secret, message, algorithm)  # one-shot C path, no HMAC object


def hex_mac(secret: str, message: bytes, algorithm: str = "sha256") -> str:
    return hmac_digest(text_bytes(secret), message, algorithm).hex()


def base64_mac(key: bytes, message: bytes, algorithm: str = "sha256") -> str:
    return base64.b64encode(hmac_digest(key, message, algorithm)).decode()


def matches_any(expected: Sequence[bytes], given: bytes) -> bool:
    """Constant-time: compare `given` against every candidate without short-circuiting."""
    ok = False
    for candidate in expected:
        ok |= hmac.compare_digest(candidate, given)
    return ok


def text_bytes(value: str) -> bytes:
    """A secret or header value as UTF-8 bytes; never fails, whatever the code points."""
    return value.encode("utf-8", "surrogatepass")


def decode_signature(text: str, encoding: str) -> bytes | None:
    """The bytes of a hex or base64 signature, or None when `text` is not in that encoding."""
    if encoding == "hex":
        return bytes.fromhex(text) if _HEX.fullmatch(text) else None
    if len(text) % 4 or not _BASE64.fullmatch(text):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        return None


def header(request: Request, *names: str) -> tuple[str, str]:
    """The first of `names` present (name, stripped value); else 'missing A or B header'."""
    for name in names:
        value = request.headers.get(name.lower())
        if value is not None and value.strip():
            return name, value.strip()
    raise VerificationError(f"missing {' or '.join(names)} header", names[0])


def signature(header: str, value: str, prefix: str, encoding: str) -> bytes:
    """The signature bytes of `<prefix><hex|base64>`; else say the header is malformed."""
    decoded = decode_signature(value[len(prefix) :], encoding) if value.startswith(prefix) else None
    if decoded is None:
        raise VerificationError(f"malformed {header} header: expected {prefix}<{encoding}>", header)
    return decoded


def check_mac(
    keys: Sequence[bytes],
    message: bytes,
    given: Sequence[bytes],
    header: str,
    algorithm: str = "sha256",
) -> None:
    """Any given signature matching any key's HMAC passes; every comparison is made."""
    expected = [hmac_digest(key, message, algorithm) for key in keys]
    ok = False
    for candidate in given:
        ok |= matches_any(expected, candidate)
    if not ok:
        raise VerificationError(f"signature mismatch for {header}", header)


def is_unix_seconds(value: str) -> bool:
    return _UNIX_SECONDS.fullmatch(value) is not None


def unix_seconds(header: str, value: str) -> int:
    if not is_unix_seconds(value):
        raise VerificationError(f"malformed {header} header: expected Unix seconds", header)
    return int(value)


def check_fresh(timestamp: float, now: float, tolerance: int, source: str) -> None:
    """Refuse stale and far-future timestamps (replays and badly wrong clocks)."""
    skew = timestamp - now
    if not abs(skew) <= tolerance:
        direction = "old" if skew < 0 else "in the future"
        raise VerificationError(
            f"timestamp outside tolerance: {source} is {abs(skew):.0f} s {direction},"
            f" allowed ±{tolerance} s (check the sender's clock, or a replay)",
            source,
        )


@dataclass(frozen=True)
class BodySignature:
    """`<prefix><hex|base64 HMAC of the raw body>` in the first of `headers` present."""

    headers: tuple[str, ...]
    prefix: str = ""
    algorithm: str = "sha256"
    encoding: str = "hex"

    def check(self, request: Request, keys: Sequence[bytes]) -> str:
        """Verify; return the header that carried the signature."""
        name, value = header(request, *self.headers)
        given = signature(name, value, self.prefix, self.encoding)
        check_mac(keys, request.body, [given], name, self.algorithm)
        return name


@dataclass(frozen=True)
class BodyHmacVerifier:
    """One header with an HMAC of the raw body (gitea/forgejo, shopify, bitbucket, `hmac`)."""

    provider: str
    keys: tuple[bytes, ...]
    signature: BodySignature

    def verify(self, request: Request) -> None:
        self.signature.check(request, self.keys)


def utf8_keys(secrets: Sequence[str]) -> tuple[bytes, ...]:
    return tuple(text_bytes(s) for s in secrets)
