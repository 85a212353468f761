"""The signed-in user, their API tokens (Settings → Tokens) and their channel bindings
(Settings → Channels)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from octipus.accounts import AccountError, find_user, list_tokens, revoke_token
from octipus.actions.base import ActionError, RetryableError
from octipus.api.deps import RuntimeDep, SessionDep, UserDep
from octipus.api.errors import ApiError
from octipus.channels import apprise as apprise_channel
from octipus.channels.linking import (
    LinkError,
    attempt_code,
    audit,
    binding_json,
    find_binding,
    issue_destination_code,
    issue_ui_code,
    list_bindings,
    redeem_bot_code,
    unlink,
    verify_destination,
)
from octipus.db.tables import ChannelBinding
from octipus.runtime import Runtime

router = APIRouter(prefix="/api/auth", tags=["auth"])


class CodeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=32, description="The 6-character code")


class DestinationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=3, max_length=2000, description="An Apprise URL")
    name: str | None = Field(default=None, max_length=200)


def _link_error(exc: LinkError) -> ApiError:
    headers = {"Retry-After": "900"} if exc.status == 429 else None
    return ApiError(exc.status, exc.message, headers)


@router.get("/me")
async def me(user: UserDep, session: SessionDep) -> dict[str, Any]:
    """The token's user, with their channel bindings and whether each is verified."""
    return {
        "id": user.id,
        "name": user.name,
        "isAdmin": user.is_admin,
        "createdAt": user.created_at.isoformat(),
        "channelBindings": [binding_json(b) for b in await list_bindings(session, user.id)],
    }


@router.get("/tokens")
async def get_tokens(
    user: UserDep,
    session: SessionDep,
    of: str | None = Query(
        None, alias="user", max_length=200, description="Admins: another user's name"
    ),
) -> dict[str, Any]:
    """Your API tokens (an admin may ask for another user's): id, name, first characters and
    creation time; never the token itself."""
    owner = user
    if of is not None and of != user.name:
        if not user.is_admin:
            raise ApiError(403, "Only admins may list another user's tokens; leave out ?user=")
        try:
            owner = await find_user(session, of)
        except AccountError as exc:
            raise ApiError(404, str(exc)) from None
    return {"tokens": await list_tokens(session, owner)}


@router.delete("/tokens/{token_id}")
async def delete_token(token_id: str, user: UserDep, session: SessionDep) -> dict[str, Any]:
    """Revoke a token of yours (admins: anyone's); it stops working at once."""
    if not await revoke_token(session, user, token_id):
        raise ApiError(404, f"No token {token_id[:40]} of yours; GET /api/auth/tokens lists them")
    await session.commit()
    return {"revoked": True, "id": token_id}


@router.get("/channel-bindings")
async def get_bindings(user: UserDep, session: SessionDep) -> dict[str, Any]:
    return {"bindings": [binding_json(b) for b in await list_bindings(session, user.id)]}


@router.post("/channel-bindings/redeem")
async def redeem(body: CodeBody, user: UserDep, session: SessionDep) -> dict[str, Any]:
    """Redeem the code the bot sent after `/link`: that chat becomes a verified binding."""
    try:
        binding = await attempt_code(
            session,
            f"user:{user.id}",
            user.id,
            lambda s: redeem_bot_code(s, user, body.code),
        )
    except LinkError as exc:
        raise _link_error(exc) from None
    return {"binding": binding_json(binding)}


@router.post("/channel-bindings/link-code", status_code=201)
async def link_code(user: UserDep, session: SessionDep) -> dict[str, Any]:
    """A code to send to the bot as `/link CODE` (the other direction of linking)."""
    issued = await issue_ui_code(session, user)
    await session.commit()
    return {
        "code": issued.code,
        "expiresAt": issued.expires_at.isoformat(),
        "instructions": (
            f"Send /link {issued.code} to the Octipus bot on Telegram, or type "
            f"/link {issued.code} in Slack, within 15 minutes. The code works once."
        ),
    }


@router.delete("/channel-bindings/{channel_type}/{external_id}")
async def delete_binding(
    channel_type: str, external_id: str, user: UserDep, session: SessionDep
) -> dict[str, Any]:
    if not await unlink(session, user, channel_type, external_id):
        raise ApiError(
            404, f"No binding {channel_type}:{external_id} on your account (see GET bindings)"
        )
    await session.commit()
    return {"deleted": True}


async def _send_code(runtime: Runtime, binding: ChannelBinding, code: str) -> None:
    text = (
        f"Your Octipus verification code: {code}\n"
        "Enter it in Octipus under Settings → Channels within 15 minutes."
    )
    adapter = apprise_channel.AppriseAdapter(
        runtime.settings.forward_allowed_hosts, runtime.guarded_process
    )
    try:
        await adapter.send_part(await adapter.open(binding), text)
    except (RetryableError, ActionError) as exc:
        raise ApiError(
            400, f"Could not deliver the verification code ({exc}); check the URL and add it again"
        ) from None


@router.post("/channel-bindings/apprise", status_code=201)
async def add_destination(
    body: DestinationBody,
    user: UserDep,
    session: SessionDep,
    runtime: RuntimeDep,
    response: Response,
) -> dict[str, Any]:
    """Add an Apprise destination as `pending` and send it a code; an existing one gets a new
    code while pending, and is returned as it is once verified."""
    url = body.url.strip()
    try:
        display_name = body.name or apprise_channel.describe(url)
        await apprise_channel.check_host(url, runtime.settings.forward_allowed_hosts)
    except apprise_channel.InvalidDestination as exc:
        raise ApiError(400, f"url: {exc}") from None
    external_id = apprise_channel.destination_id(user.id, url)
    binding = await find_binding(session, apprise_channel.CHANNEL_TYPE, external_id)
    if binding is None:
        binding = ChannelBinding(
            user_id=user.id,
            channel_type=apprise_channel.CHANNEL_TYPE,
            external_id=external_id,
            display_name=display_name,
            status="pending",
            config={"url": url},
        )
        session.add(binding)
        audit(session, "channel.destination_added", user.id, channel=f"apprise:{external_id}")
    else:
        response.status_code = 200
    pending = binding.status != "verified"
    issued = await issue_destination_code(session, binding) if pending else None
    await session.commit()  # before the network call: nothing is locked while it runs
    if issued is not None:
        await _send_code(runtime, binding, issued.code)
    return {"binding": binding_json(binding), "codeSent": pending}


@router.post("/channel-bindings/apprise/{external_id}/verify")
async def verify_apprise(
    external_id: str, body: CodeBody, user: UserDep, session: SessionDep
) -> dict[str, Any]:
    """Type back the code sent to the destination: it becomes verified and receives messages."""
    binding = await find_binding(session, apprise_channel.CHANNEL_TYPE, external_id)
    if binding is None or binding.user_id != user.id:
        raise ApiError(404, f"No Apprise destination {external_id} on your account")
    try:
        verified = await attempt_code(
            session,
            f"user:{user.id}",
            user.id,
            lambda s: verify_destination(s, binding, body.code),
        )
    except LinkError as exc:
        raise _link_error(exc) from None
    return {"binding": binding_json(verified)}
