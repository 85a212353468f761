"""What the bot answers to the commands users send it, on every platform."""

from __future__ import annotations

import logging
from typing import Any

from octipus.actions.base import ActionError, RetryableError
from octipus.channels.base import InboundCommand
from octipus.channels.linking import LinkError, attempt_code, issue_bot_code, redeem_ui_code
from octipus.channels.telegram import TelegramAdapter, command_from_update
from octipus.runtime import Runtime

log = logging.getLogger(__name__)

HELP = (
    "Octipus sends webhook notifications here once this chat is linked to your account.\n"
    "• Send /link to get a code, then enter it in Octipus under Settings → Channels.\n"
    "• Or send /link CODE with a code Octipus showed you."
)


def _parse(text: str) -> tuple[str, str]:
    """(`/link`, argument) from `/link CODE` or `/link@SomeBot CODE`."""
    command, _, argument = text.strip().partition(" ")
    return command.split("@", 1)[0].lower(), argument.strip()


async def handle_command(runtime: Runtime, command: InboundCommand) -> str:
    """Do what the command asks and return the reply for the chat."""
    name, argument = _parse(command.text)
    if name != "/link" or argument.lower() == "help":
        return HELP
    if not argument:
        async with runtime.sessions.begin() as session:
            issued = await issue_bot_code(
                session, command.channel_type, command.external_id, command.display_name
            )
        return (
            f"Your Octipus link code: {issued.code}\n"
            "Enter it in Octipus under Settings → Channels within 15 minutes; it works once."
        )
    try:
        async with runtime.sessions() as session:
            _, user = await attempt_code(
                session,
                f"{command.channel_type}:{command.external_id}",
                None,
                lambda s: redeem_ui_code(
                    s, command.channel_type, command.external_id, command.display_name, argument
                ),
            )
    except LinkError as exc:
        return f"Not linked: {exc.message}"
    return f"Linked: this chat now receives Octipus notifications for {user.name}."


async def answer_telegram_update(
    runtime: Runtime, adapter: TelegramAdapter, update: dict[str, Any]
) -> None:
    """Handle one Telegram update (webhook or polling) and send the reply to its chat."""
    command = command_from_update(update)
    if command is None:
        return
    reply = await handle_command(runtime, command)
    try:
        await adapter.send_message(command.external_id, reply)
    except (RetryableError, ActionError) as exc:
        # Telegram would redeliver the update if this failed loudly, issuing a second code.
        log.warning("could not reply to telegram chat %s: %s", command.external_id, exc)
