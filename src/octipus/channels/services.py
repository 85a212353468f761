"""Channel services, run by the leader (cluster/leader.py): Telegram long polling, or webhook
registration."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from octipus.actions.base import ActionError, RetryableError
from octipus.background import TaskService
from octipus.channels.commands import answer_telegram_update
from octipus.channels.telegram import WEBHOOK_ROUTE, TelegramAdapter
from octipus.runtime import Runtime

if TYPE_CHECKING:
    from octipus.app import BackgroundService

log = logging.getLogger(__name__)

POLL_TIMEOUT_SECONDS = 25  # Telegram holds a getUpdates call open this long when idle
MAX_BACKOFF_SECONDS = 60.0


class TelegramPoller(TaskService):
    """`getUpdates` long polling, for servers Telegram cannot reach (no public URL)."""

    name = "telegram-poller"

    def __init__(self, runtime: Runtime):
        super().__init__()
        self.runtime = runtime
        self.adapter = TelegramAdapter(runtime.settings, runtime.http)

    async def run(self) -> None:
        offset: int | None = None
        backoff = 1.0
        webhook_removed = False
        while True:
            try:
                if not webhook_removed:
                    # Telegram refuses getUpdates while a webhook is set.
                    await self.adapter.delete_webhook()
                    webhook_removed = True
                updates = await self.adapter.get_updates(offset, POLL_TIMEOUT_SECONDS)
            except (RetryableError, ActionError) as exc:
                delay = getattr(exc, "retry_after", None) or backoff
                log.warning("telegram polling failed, retrying in %.0fs: %s", delay, exc)
                await asyncio.sleep(delay)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            backoff = 1.0
            for update in updates:
                offset = max(offset or 0, int(update.get("update_id", 0)) + 1)
                try:
                    await answer_telegram_update(self.runtime, self.adapter, update)
                except Exception:  # one bad update (or a database hiccup) must not stop polling
                    log.exception("telegram update %s failed", update.get("update_id"))


class TelegramWebhookRegistrar(TaskService):
    """Points Telegram at `<public URL>/api/channels/telegram/webhook` with the secret token."""

    name = "telegram-webhook-registrar"

    def __init__(self, runtime: Runtime, secret: str):
        super().__init__()
        self.url = runtime.settings.base_url + WEBHOOK_ROUTE
        self.secret = secret
        self.adapter = TelegramAdapter(runtime.settings, runtime.http)

    async def run(self) -> None:
        try:
            await self.adapter.set_webhook(self.url, self.secret)
        except (RetryableError, ActionError) as exc:
            log.error("could not register the Telegram webhook %s: %s", self.url, exc)
            return
        log.info("telegram webhook registered: %s", self.url)


def channel_services(runtime: Runtime) -> list[BackgroundService]:
    """The Telegram poller in polling mode; the webhook registration in webhook mode."""
    settings = runtime.settings
    if not settings.telegram_bot_token:
        return []
    if settings.telegram_mode == "polling":
        return [TelegramPoller(runtime)]
    if settings.public_url and settings.telegram_webhook_secret:
        return [TelegramWebhookRegistrar(runtime, settings.telegram_webhook_secret)]
    log.info(
        "telegram webhook mode: set OCTIPUS_PUBLIC_URL and OCTIPUS_TELEGRAM_WEBHOOK_SECRET "
        "to register the webhook, or OCTIPUS_TELEGRAM_MODE=polling"
    )
    return []
