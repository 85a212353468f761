"""Twilio: `X-Twilio-Signature: <base64 HMAC-SHA1>` over the full public URL the request was sent
to, followed by the sorted POST parameters of a form body; a JSON body is covered instead by a
`bodySHA256=<hex>` query parameter of that URL. The URL is what the sender was configured with,
so the server must know its public address (OCTIPUS_PUBLIC_URL behind a proxy or tunnel).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal
from urllib.parse import SplitResult, parse_qs, parse_qsl, urlencode, urlsplit

from octipus.ingress.providers.core import (
    Detect,
    Provider,
    Request,
    SignOptions,
    TriggerConfigBase,
    VerificationError,
)
from octipus.ingress.providers.mac import (
    base64_mac,
    header,
    hmac_digest,
    matches_any,
    signature,
    text_bytes,
    utf8_keys,
)

SIGNATURE_HEADER = "X-Twilio-Signature"
BODY_HASH = "bodySHA256"
FORM = "application/x-www-form-urlencoded"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class TwilioConfig(TriggerConfigBase):
    provider: Literal["twilio"]


def _with_port(parts: SplitResult, port: int | None) -> str:
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + host + (f":{port}" if port else "")
    return parts._replace(netloc=netloc).geturl()


def url_variants(url: str) -> set[str]:
    """The URL as given, with its default port, and without it (Twilio signs either form)."""
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # an out-of-range port: only the URL as given
        return {url}
    return {url, _with_port(parts, port), _with_port(parts, None)}


def signed_string(url: str, body: bytes) -> bytes:
    """The URL, then each form parameter's name and value, sorted (none when the URL carries
    `bodySHA256`: the body is covered by that hash)."""
    text = url
    if BODY_HASH not in parse_qs(urlsplit(url).query):
        params: dict[str, set[str]] = {}
        for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            params.setdefault(name, set()).add(value)
        text += "".join(name + value for name in sorted(params) for value in sorted(params[name]))
    return text_bytes(text)


@dataclass(frozen=True)
class TwilioVerifier:
    """`X-Twilio-Signature` over the request's public URL (and form parameters, or body hash)."""

    keys: tuple[bytes, ...]
    provider: str = "twilio"

    def verify(self, request: Request) -> None:
        name, value = header(request, SIGNATURE_HEADER)
        given = signature(name, value, "", "base64")
        try:
            query = urlsplit(request.url).query if request.url else None
        except ValueError:  # the Host header is the sender's: "[::1" is not a host
            query = None
        if query is None:
            raise VerificationError(f"{name} covers the request URL, which is not known here", name)
        hashes = parse_qs(query).get(BODY_HASH)
        if hashes is not None and not matches_any(
            [text_bytes(h) for h in hashes], hashlib.sha256(request.body).hexdigest().encode()
        ):
            raise VerificationError(f"{BODY_HASH} in the URL is not the body's SHA-256", name)
        expected = [
            hmac_digest(key, signed_string(url, request.body), "sha1")
            for key in self.keys
            for url in url_variants(request.url)
        ]
        if not matches_any(expected, given):
            raise VerificationError(
                f"signature mismatch for {name} (Twilio signs the public URL it posts to:"
                " set OCTIPUS_PUBLIC_URL to the address configured at Twilio)",
                name,
            )


def build(config: TwilioConfig, name: str) -> TwilioVerifier:
    return TwilioVerifier(utf8_keys(config.secrets))


def signed_url(url: str, body: bytes, content_type: str) -> str:
    """The URL a JSON (non-form) body is posted to: with its `bodySHA256` query parameter."""
    if content_type.split(";")[0].strip().lower() == FORM:
        return url
    query = urlencode({BODY_HASH: hashlib.sha256(body).hexdigest()})
    return url + ("&" if urlsplit(url).query else "?") + query


def sign(name: str, secret: str, body: bytes, options: SignOptions) -> dict[str, str]:
    if not options.url:
        raise ValueError("a Twilio signature covers the URL: pass the URL the request goes to")
    mac = base64_mac(text_bytes(secret), signed_string(options.url, body), "sha1")
    return {SIGNATURE_HEADER: mac}


PROVIDER = Provider(
    names=("twilio",),
    titles=("Twilio",),
    config=TwilioConfig,
    build=build,
    sign=sign,
    signature_headers=(SIGNATURE_HEADER,),
    detect=(Detect(SIGNATURE_HEADER, 95),),
    delivery_headers=("I-Twilio-Idempotency-Token",),
    signed_url=signed_url,
    signs_url=True,
)
