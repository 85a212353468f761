"""The `webhook` action: forward the event to another URL, through the SSRF guard
(net/guarded.py): redirects are not followed; a 3xx answer fails the execution."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import orjson

from octipus import __version__
from octipus.actions.base import ActionContext, ActionError, ConfigError, RetryableError
from octipus.actions.exchange import summarize
from octipus.db.tables import User
from octipus.hooks.templates import render, render_value
from octipus.ingress.providers.registry import sign_headers
from octipus.net.addresses import BlockedDestination
from octipus.net.http import HttpError, HttpInvalidRequest, HttpTimeout, Reply
from octipus.queue.backoff import parse_retry_after
from octipus.runtime import Runtime

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
FIELDS = ("webhookUrl", "webhookMethod", "webhookHeaders", "webhookBody", "signingSecret")
# Set by Octipus itself: the connection, the body length, and the receiver's dedupe key.
RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "idempotency-key"})
KEPT_RESPONSE_HEADERS = (
    "content-type",
    "content-length",
    "location",
    "retry-after",
    "x-request-id",
)
BODY_TAIL_CHARS = 2000
USER_AGENT = f"Octipus-Hooks/{__version__}"
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _validated_headers(headers: Any) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ConfigError("webhookHeaders", 'must be an object of strings, e.g. {"X-Team": "ops"}')
    for name in headers:
        if not _HEADER_NAME.match(name):
            raise ConfigError("webhookHeaders", f"{name!r} is not a valid header name")
        if name.lower() in RESERVED_HEADERS:
            raise ConfigError("webhookHeaders", f"{name!r} is set by Octipus and cannot be changed")
    return headers


def _merge(headers: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    """`headers` updated with `extra`, names compared case-insensitively."""
    names = {n.lower() for n in extra}
    return {**{k: v for k, v in headers.items() if k.lower() not in names}, **extra}


def _one_line(value: str) -> str:
    """Payload data rendered into a header value must not start a new header."""
    return value.replace("\r", " ").replace("\n", " ")


def _body(
    config: dict[str, Any], trigger: dict[str, Any], method: str
) -> tuple[bytes | None, str | None]:
    """The body to send and its content type: the rendered `webhookBody`, else the original."""
    template = config.get("webhookBody")
    if isinstance(template, (dict, list)):
        return orjson.dumps(render_value(template, trigger)), "application/json"
    if isinstance(template, str):
        text = render(template, trigger)
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError:
            return text.encode(), "text/plain; charset=utf-8"
        return text.encode(), "application/json"
    if method in ("GET", "DELETE"):
        return None, None
    webhook = trigger["webhook"]
    return webhook["rawBody"].encode(), webhook["headers"].get("content-type")


def _summary(response: Reply, method: str, url: str) -> dict[str, Any]:
    """What the execution log keeps of the receiver's answer."""
    return {
        "status": response.status,
        "method": method,
        "url": url,
        "headers": {h: response.headers[h] for h in KEPT_RESPONSE_HEADERS if h in response.headers},
        "body": response.text[-BODY_TAIL_CHARS:],
    }


class ForwardAction:
    name: ClassVar[str] = "webhook"
    uses_owner_bindings: ClassVar[bool] = False

    async def validate(
        self, config: dict[str, Any], owner: User, runtime: Runtime
    ) -> dict[str, Any]:
        unknown = sorted(set(config) - set(FIELDS))
        if unknown:
            raise ConfigError(
                unknown[0], f"unknown field; the webhook action takes {', '.join(FIELDS)}"
            )
        url = config.get("webhookUrl")
        if not isinstance(url, str) or not url.strip():
            raise ConfigError("webhookUrl", 'is required, e.g. "https://example.com/events"')
        if not url.strip().lower().startswith(("http://", "https://")):
            raise ConfigError("webhookUrl", "must start with http:// or https://")
        method = config.get("webhookMethod", "POST")
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise ConfigError("webhookMethod", f"must be one of {', '.join(METHODS)}")
        body = config.get("webhookBody")
        if body is not None and not isinstance(body, (str, dict, list)):
            raise ConfigError("webhookBody", "must be a template string or a JSON object/array")
        secret = config.get("signingSecret")
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise ConfigError("signingSecret", "must be a non-empty string")
        normalised = {**config, "webhookUrl": url.strip(), "webhookMethod": method.upper()}
        headers = _validated_headers(config.get("webhookHeaders"))
        if headers:
            normalised["webhookHeaders"] = headers
        return normalised

    async def run(self, ctx: ActionContext) -> dict[str, Any]:
        config, trigger = ctx.hook.action_config, ctx.trigger
        settings = ctx.runtime.settings
        url = render(config["webhookUrl"], trigger)
        method = config.get("webhookMethod", "POST")
        body, content_type = _body(config, trigger, method)
        headers = {"User-Agent": USER_AGENT}
        if content_type:
            headers["Content-Type"] = content_type
        rendered = {
            k: _one_line(render(v, trigger))
            for k, v in (config.get("webhookHeaders") or {}).items()
        }
        headers = _merge(headers, rendered)
        headers["Idempotency-Key"] = ctx.execution_id
        if config.get("signingSecret"):
            headers.update(sign_headers("github", config["signingSecret"], body or b""))
        ctx.exchange = summarize(method, url, headers, body, None)
        try:
            response = await ctx.runtime.outbound.request(
                method,
                url,
                headers=headers,
                content=body,
                timeout=settings.forward_timeout_seconds,
            )
        except BlockedDestination as exc:
            raise ActionError(str(exc)) from None
        except HttpTimeout:
            raise RetryableError(
                f"{method} {url} timed out after {settings.forward_timeout_seconds:g}s"
            ) from None
        except HttpInvalidRequest as exc:
            raise ActionError(f"{method} {url} could not be sent: {exc}") from None
        except HttpError as exc:
            raise RetryableError(f"{method} {url} failed: {type(exc).__name__}: {exc}") from None
        ctx.exchange = summarize(method, url, headers, body, response)
        result = _summary(response, method, url)
        status = response.status
        if response.is_success:
            return result
        message = f"{method} {url} answered {status} {response.reason}".rstrip()
        message += response.redirect_note
        if status in (408, 429) or status >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise RetryableError(message, retry_after=retry_after, result=result)
        raise ActionError(message, result=result)
