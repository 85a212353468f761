"""Inbound channel endpoints (no bearer token: each checks its platform's own proof).

- `POST /api/channels/telegram/webhook`: Telegram updates, `X-Telegram-Bot-Api-Secret-Token`.
- `POST /api/channels/slack/commands`: the `/link` slash command, Slack's v0 signature.
"""

from __future__ import annotations

import hmac
import time
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Request

from octipus.api.deps import RuntimeDep
from octipus.api.errors import ApiError
from octipus.channels.commands import answer_telegram_update, handle_command
from octipus.channels.slack import command_from_form
from octipus.channels.telegram import SECRET_HEADER, WEBHOOK_ROUTE, TelegramAdapter
from octipus.ingress.body import BodyTooLarge, read_body
from octipus.ingress.providers.core import Request as SignedRequest
from octipus.ingress.providers.core import VerificationError
from octipus.ingress.providers.slack import SlackVerifier

router = APIRouter(tags=["channels"])


async def _body(request: Request, limit: int) -> bytes:
    try:
        return await read_body(request, limit)
    except BodyTooLarge as exc:
        raise ApiError(413, str(exc)) from None


@router.post(WEBHOOK_ROUTE)
async def telegram_webhook(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    """One Telegram update; answered with 200 whatever it holds, so Telegram does not resend."""
    settings = runtime.settings
    expected = settings.telegram_webhook_secret
    if not expected or not settings.telegram_bot_token:
        raise ApiError(
            401,
            "Telegram webhook mode is off: set OCTIPUS_TELEGRAM_BOT_TOKEN and "
            "OCTIPUS_TELEGRAM_WEBHOOK_SECRET",
        )
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, f"Missing or wrong {SECRET_HEADER} header")
    try:
        update = orjson.loads(await _body(request, settings.max_body_bytes))
    except orjson.JSONDecodeError:
        raise ApiError(400, "Invalid JSON: expected a Telegram Update object") from None
    if not isinstance(update, dict):
        raise ApiError(400, "Invalid update: expected a JSON object")
    await answer_telegram_update(runtime, TelegramAdapter(settings, runtime.http), update)
    return {"ok": True}


@router.post("/api/channels/slack/commands")
async def slack_command(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    """The `/link` slash command; the reply is shown only to the user who typed it."""
    secret = runtime.settings.slack_signing_secret
    if not secret:
        raise ApiError(401, "Slack commands are off: set OCTIPUS_SLACK_SIGNING_SECRET")
    body = await _body(request, runtime.settings.max_body_bytes)
    headers = {name.lower(): value for name, value in request.headers.items()}
    try:
        SlackVerifier((secret.encode(),)).verify(SignedRequest(headers, body, time.time()))
    except VerificationError as exc:
        raise ApiError(401, f"Not a signed Slack request: {exc.reason}") from None
    form = dict(parse_qsl(body.decode("utf-8", "replace")))
    command = command_from_form(form)
    if command is None:
        raise ApiError(400, "Not a slash command: the form has no user_id")
    return {"response_type": "ephemeral", "text": await handle_command(runtime, command)}
