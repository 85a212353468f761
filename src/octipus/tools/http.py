"""The `http` tool: one HTTP request through the same SSRF guard as the forward action."""

from __future__ import annotations

import time
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from octipus.actions.exchange import summarize
from octipus.net.addresses import BlockedDestination
from octipus.net.http import HttpError, HttpInvalidRequest, HttpTimeout, Reply
from octipus.tools.base import ActionSpec, Tool, ToolContext, ToolError

BODY_TAIL_CHARS = 16 * 1024
RETRYABLE_STATUS = frozenset({408, 429})


class HttpParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    url: str = Field(min_length=1, description="http:// or https:// URL")
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | dict[str, Any] | list[Any] | None = Field(
        None, description="Request body: text, or a JSON object/array sent as application/json"
    )
    timeout: float = Field(15.0, gt=0, le=300, description="Seconds to wait for the response")

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


def _encode_body(params: HttpParams) -> tuple[bytes | None, dict[str, str]]:
    headers = dict(params.headers)
    if params.body is None:
        return None, headers
    if isinstance(params.body, str):
        return params.body.encode(), headers
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    return orjson.dumps(params.body), headers


def _response_result(params: HttpParams, response: Reply, started: float) -> dict[str, Any]:
    text = response.text
    return {
        "method": params.method,
        "url": params.url,
        "status": response.status,
        "contentType": response.headers.get("content-type"),
        "body": text[:BODY_TAIL_CHARS],
        "truncated": response.truncated or len(text) > BODY_TAIL_CHARS,
        "durationMs": int((time.monotonic() - started) * 1000),
    }


async def send_request(params: HttpParams, ctx: ToolContext) -> dict[str, Any]:
    """Send it; non-2xx raise ToolError (retryable for 408, 429, 5xx and network failures)."""
    content, headers = _encode_body(params)
    started = time.monotonic()
    request = {"method": params.method, "url": params.url}
    ctx.exchange = summarize(params.method, params.url, headers, content, None)
    try:
        response = await ctx.runtime.outbound.request(
            params.method,
            params.url,
            headers=headers,
            content=content,
            timeout=params.timeout,
        )
    except BlockedDestination as exc:
        raise ToolError(str(exc), request) from None
    except HttpTimeout:
        raise ToolError(
            f"no response within {params.timeout:g}s", request, retryable=True
        ) from None
    except HttpInvalidRequest as exc:
        raise ToolError(f"request cannot be sent: {exc}", request) from None
    except HttpError as exc:
        raise ToolError(f"request failed: {exc}", request, retryable=True) from None
    ctx.exchange = summarize(params.method, params.url, headers, content, response)
    result = _response_result(params, response, started)
    status = response.status
    if 200 <= status < 300:
        return result
    retryable = status >= 500 or status in RETRYABLE_STATUS
    message = f"{params.method} {params.url} answered {status}{response.redirect_note}"
    raise ToolError(message, result, retryable=retryable)


HTTP = Tool(
    id="http",
    description="HTTP requests to other services (private hosts need OCTIPUS_FORWARD_ALLOW_HOSTS).",
    actions={
        "request": ActionSpec(
            name="request",
            description="Send one HTTP request and return the status and the response body.",
            params=HttpParams,
            run=send_request,
        )
    },
)
