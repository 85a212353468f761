"""Signature verification, one small verifier per provider scheme (DESIGN §3.2).

Every verifier checks the raw bytes in constant time before anything is parsed and raises only
`VerificationError`, whose reason names the header it expected and never a secret or an expected
value. Timestamped schemes check the signature first, so "timestamp outside tolerance" means the
secret was right and the clock (or a replay) is the problem. A hook's verifier is built once from
its `triggerConfig` (when the hook cache loads) and reused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

DEFAULT_TOLERANCE_SECONDS = 300
LINEAR_TOLERANCE_SECONDS = 60
MAX_TOLERANCE_SECONDS = 86_400
MAX_EXTRA_SECRETS = 10
ALGORITHMS = ("sha1", "sha256", "sha512")
ENCODINGS = ("hex", "base64")
STANDARD_SECRET_PREFIX = "whsec_"

_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")


class VerificationError(Exception):
    """Why a request did not verify; the message is safe to show (never a secret)."""

    def __init__(self, reason: str, header: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.header = header


@dataclass(frozen=True)
class Request:
    """What a verifier sees: lower-cased headers, the raw body, the current Unix time."""

    headers: Mapping[str, str]
    body: bytes
    now: float


class Verifier(Protocol):
    @property
    def provider(self) -> str:
        """The scheme's name, e.g. "github" ("auto" for the detecting verifier)."""
        ...

    def verify(self, request: Request) -> None:
        """Return when the request is authentic; raise VerificationError saying why not."""
        ...


# --- the shared HMAC helpers -------------------------------------------------------------


def hmac_digest(secret: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.digest(secret, message, algorithm)  # one-shot C path, no HMAC object


def matches_any(expected: Sequence[bytes], given: bytes) -> bool:
    """Constant-time: compare `given` against every candidate without short-circuiting."""
    ok = False
    for candidate in expected:
        ok |= hmac.compare_digest(candidate, given)
    return ok


def text_bytes(value: str) -> bytes:
    """A secret or header value as UTF-8 bytes; never fails, whatever the code points."""
    return value.encode("utf-8", "surrogatepass")


def standard_key(secret: str) -> bytes | None:
    """The HMAC key of a Standard Webhooks secret (`whsec_<base64>`), or None if it is not one."""
    encoded = secret.removeprefix(STANDARD_SECRET_PREFIX)
    encoded += "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return key or None


def _decode_signature(text: str, encoding: str) -> bytes | None:
    """The bytes of a hex or base64 signature, or None when `text` is not in that encoding."""
    if encoding == "hex":
        return bytes.fromhex(text) if _HEX.fullmatch(text) else None
    if len(text) % 4 or not _BASE64.fullmatch(text):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        return None


def _header(request: Request, *names: str) -> tuple[str, str]:
    """The first of `names` present (name, stripped value); else 'missing A or B header'."""
    for name in names:
        value = request.headers.get(name.lower())
        if value is not None and value.strip():
            return name, value.strip()
    raise VerificationError(f"missing {' or '.join(names)} header", names[0])


def _signature(header: str, value: str, prefix: str, encoding: str) -> bytes:
    """The signature bytes of `<prefix><hex|base64>`; else say the header is malformed."""
    decoded = (
        _decode_signature(value[len(prefix) :], encoding) if value.startswith(prefix) else None
    )
    if decoded is None:
        raise VerificationError(f"malformed {header} header: expected {prefix}<{encoding}>", header)
    return decoded


def _check_mac(
    keys: Sequence[bytes],
    message: bytes,
    given: Sequence[bytes],
    header: str,
    algorithm: str = "sha256",
) -> None:
    """Any given signature matching any key's HMAC passes; every comparison is made."""
    expected = [hmac_digest(key, message, algorithm) for key in keys]
    ok = False
    for signature in given:
        ok |= matches_any(expected, signature)
    if not ok:
        raise VerificationError(f"signature mismatch for {header}", header)


def _unix_seconds(header: str, value: str) -> int:
    if not _UNIX_SECONDS.fullmatch(value):
        raise VerificationError(f"malformed {header} header: expected Unix seconds", header)
    return int(value)


def _check_fresh(timestamp: float, now: float, tolerance: int, source: str) -> None:
    """Refuse stale and far-future timestamps (replays and badly wrong clocks)."""
    skew = timestamp - now
    if not abs(skew) <= tolerance:
        direction = "old" if skew < 0 else "in the future"
        raise VerificationError(
            f"timestamp outside tolerance: {source} is {abs(skew):.0f} s {direction},"
            f" allowed ±{tolerance} s (check the sender's clock, or a replay)",
            source,
        )


# --- one small verifier per scheme ---------------------------------------------------------


@dataclass(frozen=True)
class BodySignature:
    """`<prefix><hex|base64 HMAC of the raw body>` in the first of `headers` present."""

    headers: tuple[str, ...]
    prefix: str = ""
    algorithm: str = "sha256"
    encoding: str = "hex"

    def check(self, request: Request, keys: Sequence[bytes]) -> str:
        """Verify; return the header that carried the signature."""
        header, value = _header(request, *self.headers)
        given = _signature(header, value, self.prefix, self.encoding)
        _check_mac(keys, request.body, [given], header, self.algorithm)
        return header


@dataclass(frozen=True)
class BodyHmacVerifier:
    """One header with an HMAC of the raw body: gitea/forgejo, shopify, bitbucket, `hmac`."""

    provider: str
    keys: tuple[bytes, ...]
    signature: BodySignature

    def verify(self, request: Request) -> None:
        self.signature.check(request, self.keys)


GITHUB_SHA256 = BodySignature(("X-Hub-Signature-256",), "sha256=")
GITHUB_SHA1 = BodySignature(("X-Hub-Signature",), "sha1=", "sha1")
BITBUCKET = BodySignature(("X-Hub-Signature",), "sha256=")
GITEA = BodySignature(("X-Gitea-Signature", "X-Forgejo-Signature", "X-Gogs-Signature"))
SHOPIFY = BodySignature(("X-Shopify-Hmac-Sha256",), encoding="base64")
LINEAR = BodySignature(("Linear-Signature",))


@dataclass(frozen=True)
class GitHubVerifier:
    """`X-Hub-Signature-256: sha256=<hex>`; legacy SHA-1 `X-Hub-Signature` only when allowed."""

    keys: tuple[bytes, ...]
    allow_sha1: bool = False
    provider: str = "github"

    def verify(self, request: Request) -> None:
        headers = request.headers
        if "x-hub-signature-256" in headers or "x-hub-signature" not in headers:
            GITHUB_SHA256.check(request, self.keys)
        elif self.allow_sha1:
            GITHUB_SHA1.check(request, self.keys)
        else:
            raise VerificationError(
                "X-Hub-Signature (SHA-1) is not accepted: send X-Hub-Signature-256,"
                " or set triggerConfig.allowSha1 to true for a sender that only signs with SHA-1",
                "X-Hub-Signature",
            )


@dataclass(frozen=True)
class StripeVerifier:
    """`Stripe-Signature: t=<ts>,v1=<hex>[,v1=…]` over `{t}.{body}`; key = the whole secret."""

    keys: tuple[bytes, ...]
    tolerance: int = DEFAULT_TOLERANCE_SECONDS
    provider: str = "stripe"

    def verify(self, request: Request) -> None:
        header, value = _header(request, "Stripe-Signature")
        timestamp: str | None = None
        given: list[bytes] = []
        for item in value.split(","):
            name, _, text = item.strip().partition("=")
            if name == "t" and timestamp is None:
                timestamp = text
            elif name == "v1" and (decoded := _decode_signature(text, "hex")) is not None:
                given.append(decoded)
        if timestamp is None or not _UNIX_SECONDS.fullmatch(timestamp) or not given:
            raise VerificationError(
                f"malformed {header} header: expected t=<unix seconds>,v1=<hex>", header
            )
        _check_mac(self.keys, timestamp.encode() + b"." + request.body, given, header)
        _check_fresh(int(timestamp), request.now, self.tolerance, header)


@dataclass(frozen=True)
class StandardVerifier:
    """Standard Webhooks (or Svix's `svix-*` twins): `v1,<base64>` of `{id}.{ts}.{body}`."""

    keys: tuple[bytes, ...]
    tolerance: int = DEFAULT_TOLERANCE_SECONDS
    provider: str = "standard"

    def verify(self, request: Request) -> None:
        header, value = _header(request, "webhook-signature", "svix-signature")
        family = header.split("-")[0]
        _, msg_id = _header(request, f"{family}-id")
        ts_header, ts_text = _header(request, f"{family}-timestamp")
        timestamp = _unix_seconds(ts_header, ts_text)
        given = [
            decoded
            for version, _, text in (item.partition(",") for item in value.split())
            if version == "v1" and (decoded := _decode_signature(text, "base64")) is not None
        ]
        if not given:
            raise VerificationError(
                f"malformed {header} header: expected v1,<base64> [v1,<base64> …]", header
            )
        if not self.keys:
            raise VerificationError(
                "no webhookSecret of this hook is a Standard Webhooks secret"
                " (whsec_ followed by base64)",
                header,
            )
        message = text_bytes(f"{msg_id}.{ts_text}.") + request.body
        _check_mac(self.keys, message, given, header)
        _check_fresh(timestamp, request.now, self.tolerance, ts_header)


@dataclass(frozen=True)
class SlackVerifier:
    """`X-Slack-Signature: v0=<hex>` over `v0:{ts}:{body}`, `X-Slack-Request-Timestamp`."""

    keys: tuple[bytes, ...]
    tolerance: int = DEFAULT_TOLERANCE_SECONDS
    provider: str = "slack"

    def verify(self, request: Request) -> None:
        header, value = _header(request, "X-Slack-Signature")
        ts_header, ts_text = _header(request, "X-Slack-Request-Timestamp")
        timestamp = _unix_seconds(ts_header, ts_text)
        given = _signature(header, value, "v0=", "hex")
        _check_mac(self.keys, f"v0:{ts_text}:".encode() + request.body, [given], header)
        _check_fresh(timestamp, request.now, self.tolerance, ts_header)


def _body_timestamp_ms(body: bytes) -> float | None:
    """Linear's `webhookTimestamp` (Unix ms) from a JSON object body, or None without one."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    value = payload.get("webhookTimestamp") if isinstance(payload, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


@dataclass(frozen=True)
class LinearVerifier:
    """`Linear-Signature: <hex>` of the raw body; body `webhookTimestamp` (ms) within 60 s."""

    keys: tuple[bytes, ...]
    tolerance: int = LINEAR_TOLERANCE_SECONDS
    provider: str = "linear"

    def verify(self, request: Request) -> None:
        header = LINEAR.check(request, self.keys)
        timestamp_ms = _body_timestamp_ms(request.body)
        if timestamp_ms is None:
            raise VerificationError("missing webhookTimestamp (Unix ms) in the Linear body", header)
        _check_fresh(timestamp_ms / 1000, request.now, self.tolerance, "webhookTimestamp")


@dataclass(frozen=True)
class GitLabVerifier:
    """`X-Gitlab-Token: <secret>` compared in constant time; or GitLab's signing-token mode,
    which sends Standard Webhooks headers (preferred when present)."""

    token_hashes: tuple[bytes, ...]
    signing: StandardVerifier
    provider: str = "gitlab"

    def verify(self, request: Request) -> None:
        if "webhook-signature" in request.headers:
            self.signing.verify(request)
            return
        header, value = _header(request, "X-Gitlab-Token", "webhook-signature")
        # Hash both sides so the comparison time does not depend on the secret's length.
        if not matches_any(self.token_hashes, hashlib.sha256(text_bytes(value)).digest()):
            raise VerificationError(f"token mismatch for {header}", header)


# Signed strings of the timestamped schemes: Slack `v0:{ts}:`, Stripe `{ts}.`, Standard `{id}.{ts}.`
_TIMESTAMPED_MESSAGE = re.compile(
    rb"v0:[0-9]{9,11}:|[0-9]{9,11}\.|[A-Za-z0-9_-]{1,128}\.[0-9]{9,11}\."
)
# The signature header each scheme sends, strongest first; auto picks the first one present.
AUTO_HEADERS = (
    ("Stripe-Signature", "stripe"),
    ("webhook-signature", "standard"),
    ("svix-signature", "standard"),
    ("X-Slack-Signature", "slack"),
    ("Linear-Signature", "linear"),
    ("X-Hub-Signature-256", "github"),
    ("X-Gitea-Signature", "gitea"),
    ("X-Forgejo-Signature", "gitea"),
    ("X-Gogs-Signature", "gitea"),
    ("X-Shopify-Hmac-Sha256", "shopify"),
    ("X-Hub-Signature", "bitbucket"),
    ("X-Gitlab-Token", "gitlab"),
)
_BODY_SIGNED = frozenset({"github", "gitea", "shopify", "bitbucket"})


def detect_provider(headers: Mapping[str, str]) -> str | None:
    """The scheme whose signature header is present (strongest first), or None."""
    for header, provider in AUTO_HEADERS:
        value = headers.get(header.lower())
        if value is not None:
            if provider == "bitbucket" and not value.strip().startswith("sha256="):
                return "github"  # GitHub's legacy SHA-1 header; allowed only by opt-in
            return provider
    return None


@dataclass(frozen=True)
class AutoVerifier:
    """`provider: "auto"`: the scheme of the signature header present, with the hook's secrets.

    It never falls back to another scheme after a failure, refuses a request with no known
    signature header, and refuses a body-signed request that is really another scheme's signed
    message replayed (a captured Slack/Stripe/Standard/Linear delivery re-sent as GitHub's),
    so auto-detection cannot be used to skip a timestamp check.
    """

    schemes: Mapping[str, Verifier]
    linear_tolerance: int
    provider: str = "auto"

    def verify(self, request: Request) -> None:
        detected = detect_provider(request.headers)
        if detected is None:
            raise VerificationError(
                f"missing signature header (expected one of {_AUTO_EXPECTED_HEADERS})"
            )
        self.schemes[detected].verify(request)
        if detected in _BODY_SIGNED:
            self._refuse_cross_scheme_replay(request)

    def _refuse_cross_scheme_replay(self, request: Request) -> None:
        if _TIMESTAMPED_MESSAGE.match(request.body):
            raise VerificationError(
                "body is shaped like a timestamped scheme's signed string (a replay across"
                " schemes?); pin triggerConfig.provider to accept such bodies"
            )
        if b'"webhookTimestamp"' in request.body:
            timestamp_ms = _body_timestamp_ms(request.body)
            if timestamp_ms is not None:
                _check_fresh(
                    timestamp_ms / 1000, request.now, self.linear_tolerance, "webhookTimestamp"
                )


@dataclass(frozen=True)
class RefusingVerifier:
    """A hook that cannot verify anything (no secret, or a broken stored config)."""

    reason: str
    provider: str = "none"

    def verify(self, request: Request) -> None:
        raise VerificationError(self.reason)


# --- building a hook's verifier from its triggerConfig ---------------------------------------


def hook_secrets(trigger_config: Mapping[str, Any]) -> list[str]:
    """`webhookSecret` then every `webhookSecrets` entry (rotation), blanks dropped."""
    found = [trigger_config.get("webhookSecret")]
    extra = trigger_config.get("webhookSecrets") or []
    if isinstance(extra, list):
        found.extend(extra)
    return [s for s in found if isinstance(s, str) and s]


@dataclass(frozen=True)
class _Keys:
    """A hook's secrets in the forms the schemes need, and its verification options."""

    config: Mapping[str, Any]
    secrets: tuple[str, ...]

    @property
    def utf8(self) -> tuple[bytes, ...]:
        return tuple(text_bytes(s) for s in self.secrets)

    @property
    def standard(self) -> tuple[bytes, ...]:
        return tuple(key for s in self.secrets if (key := standard_key(s)) is not None)

    def tolerance(self, default: int = DEFAULT_TOLERANCE_SECONDS) -> int:
        return int(self.config.get("toleranceSeconds") or default)


def _gitlab(k: _Keys, provider: str) -> Verifier:
    hashes = tuple(hashlib.sha256(key).digest() for key in k.utf8)
    return GitLabVerifier(hashes, StandardVerifier(k.standard, k.tolerance(), provider))


def _hmac(k: _Keys, provider: str) -> Verifier:
    signature = BodySignature(
        (str(k.config["signatureHeader"]),),
        str(k.config.get("prefix") or ""),
        str(k.config.get("algorithm") or "sha256"),
        str(k.config.get("encoding") or "hex"),
    )
    return BodyHmacVerifier(provider, k.utf8, signature)


_BUILDERS: dict[str, Callable[[_Keys, str], Verifier]] = {
    "github": lambda k, p: GitHubVerifier(k.utf8, bool(k.config.get("allowSha1"))),
    "gitlab": _gitlab,
    "stripe": lambda k, p: StripeVerifier(k.utf8, k.tolerance()),
    "standard": lambda k, p: StandardVerifier(k.standard, k.tolerance(), p),
    "svix": lambda k, p: StandardVerifier(k.standard, k.tolerance(), p),
    "slack": lambda k, p: SlackVerifier(k.utf8, k.tolerance()),
    "shopify": lambda k, p: BodyHmacVerifier(p, k.utf8, SHOPIFY),
    "gitea": lambda k, p: BodyHmacVerifier(p, k.utf8, GITEA),
    "forgejo": lambda k, p: BodyHmacVerifier(p, k.utf8, GITEA),
    "bitbucket": lambda k, p: BodyHmacVerifier(p, k.utf8, BITBUCKET),
    "linear": lambda k, p: LinearVerifier(k.utf8, k.tolerance(LINEAR_TOLERANCE_SECONDS)),
    "hmac": _hmac,
}
SUPPORTED_PROVIDERS = ("auto", *_BUILDERS)
# Auto's signature headers listed in the providers' order (GitHub, the default, first).
_AUTO_EXPECTED_HEADERS = ", ".join(
    header for header, provider in sorted(AUTO_HEADERS, key=lambda hp: list(_BUILDERS).index(hp[1]))
)


def build_verifier(trigger_config: Mapping[str, Any]) -> Verifier:
    """The verifier for one hook's `triggerConfig`."""
    try:
        validate_verification_config(trigger_config)
    except ValueError as exc:
        return RefusingVerifier(f"hook is misconfigured: {exc}")
    secrets = tuple(hook_secrets(trigger_config))
    if not secrets:
        return RefusingVerifier(
            "hook has no webhookSecret configured; set one to accept deliveries"
        )
    keys = _Keys(trigger_config, secrets)
    provider = trigger_config.get("provider") or "auto"
    if provider != "auto":
        return _BUILDERS[provider](keys, provider)
    detectable = {provider for _, provider in AUTO_HEADERS}
    schemes = {name: _BUILDERS[name](keys, name) for name in detectable}
    return AutoVerifier(schemes, keys.tolerance(LINEAR_TOLERANCE_SECONDS))


# --- save-time validation ---------------------------------------------------------------------


def _one_of(config: Mapping[str, Any], field: str, allowed: Sequence[str]) -> None:
    value = config.get(field)
    if value is not None and value not in allowed:
        raise ValueError(f"triggerConfig.{field} must be one of {', '.join(allowed)}")


def _validate_secrets(config: Mapping[str, Any], provider: str) -> None:
    secret = config.get("webhookSecret")
    if secret is not None and not isinstance(secret, str):
        raise ValueError("triggerConfig.webhookSecret must be a string")
    extra = config.get("webhookSecrets")
    if extra is not None and (
        not isinstance(extra, list)
        or len(extra) > MAX_EXTRA_SECRETS
        or not all(isinstance(s, str) and s for s in extra)
    ):
        raise ValueError(
            f"triggerConfig.webhookSecrets must be a list of at most {MAX_EXTRA_SECRETS}"
            " non-empty strings (the extra secrets accepted during a rotation)"
        )
    if provider in ("standard", "svix") and any(
        standard_key(s) is None for s in hook_secrets(config)
    ):
        raise ValueError(
            "triggerConfig.webhookSecret must be a Standard Webhooks secret: whsec_ followed by"
            " base64, as the sender shows it (every webhookSecrets entry too)"
        )


def _validate_hmac_fields(config: Mapping[str, Any], provider: str) -> None:
    header = config.get("signatureHeader")
    if provider == "hmac" and header is None:
        raise ValueError(
            'triggerConfig.signatureHeader is required for provider "hmac", e.g. "X-Signature"'
        )
    if header is not None:
        if provider != "hmac":
            raise ValueError(
                'triggerConfig.signatureHeader is only used with provider "hmac";'
                ' set triggerConfig.provider to "hmac" or remove it'
            )
        if not isinstance(header, str) or not _HEADER_NAME.fullmatch(header):
            raise ValueError("triggerConfig.signatureHeader must be an HTTP header name")
    _one_of(config, "algorithm", ALGORITHMS)
    _one_of(config, "encoding", ENCODINGS)
    prefix = config.get("prefix")
    if prefix is not None and (not isinstance(prefix, str) or len(prefix) > 100):
        raise ValueError('triggerConfig.prefix must be a short string, e.g. "sha256="')


def validate_verification_config(trigger_config: Mapping[str, Any]) -> None:
    """Check a `triggerConfig`'s verification fields at save time; ValueError names the field."""
    provider = trigger_config.get("provider") or "auto"
    if provider not in SUPPORTED_PROVIDERS:
        raise ValueError(
            f"triggerConfig.provider {str(provider)[:40]!r} is unknown;"
            f" use one of {', '.join(SUPPORTED_PROVIDERS)}"
        )
    _validate_secrets(trigger_config, provider)
    tolerance = trigger_config.get("toleranceSeconds")
    if tolerance is not None and (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, int)
        or not 1 <= tolerance <= MAX_TOLERANCE_SECONDS
    ):
        raise ValueError(
            f"triggerConfig.toleranceSeconds must be a whole number from 1 to"
            f" {MAX_TOLERANCE_SECONDS} (seconds a timestamp may differ from the server's clock)"
        )
    allow_sha1 = trigger_config.get("allowSha1")
    if allow_sha1 is not None and not isinstance(allow_sha1, bool):
        raise ValueError("triggerConfig.allowSha1 must be true or false")
    _validate_hmac_fields(trigger_config, provider)
