"""Linking chats to users with one-time codes (DESIGN §6), and the bindings they create.

Both directions use the same codes: 6 characters, 15 minutes, single use, stored as SHA-256.
- bot-issued: a chat sends `/link`, the bot answers a code, the user redeems it in the API;
- UI-issued: the API shows a code, the user sends `/link CODE` to the bot.
Apprise destinations get a code sent *to* them and are verified when the user types it back.
Failed attempts are audited and capped per user or chat, so codes cannot be guessed.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from octipus.db.tables import AuditEvent, ChannelBinding, LinkCode, User, utcnow
from octipus.runtime import Runtime

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: easy to read and type
CODE_LENGTH = 6
CODE_TTL = timedelta(minutes=15)
MAX_FAILURES = 10  # failed attempts per subject within CODE_TTL before refusing more
T = TypeVar("T")


class LinkError(Exception):
    """A code or binding operation refused; `status` is the HTTP status it maps to."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires_at: datetime


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str) -> str:
    """What the user typed, forgiving case, spaces and dashes."""
    return "".join(ch for ch in text.upper() if ch not in " -\t")


def hash_code(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


def audit(session: AsyncSession, kind: str, user_id: str | None, **detail: Any) -> None:
    session.add(AuditEvent(user_id=user_id, kind=kind, detail=detail))


async def _issue(session: AsyncSession, issued_by: str, **fields: Any) -> IssuedCode:
    """Store a fresh code. Codes expired over a day ago are dropped (until then a reuse is
    told "expired" rather than "unknown"), and a code still on file is never handed out twice."""
    now = utcnow()
    await session.execute(
        sa.delete(LinkCode)
        .where(LinkCode.expires_at < now - timedelta(days=1))
        .execution_options(synchronize_session=False)
    )
    code = new_code()
    while await session.scalar(sa.select(LinkCode.id).where(LinkCode.code_hash == hash_code(code))):
        code = new_code()
    expires_at = now + CODE_TTL
    session.add(
        LinkCode(
            code_hash=hash_code(code),
            issued_by=issued_by,
            created_at=now,
            expires_at=expires_at,
            **fields,
        )
    )
    await session.flush()
    return IssuedCode(code, expires_at)


async def issue_bot_code(
    session: AsyncSession, channel_type: str, external_id: str, display_name: str | None
) -> IssuedCode:
    """A code for a chat that sent `/link`, to be redeemed by a signed-in user."""
    return await _issue(
        session,
        "bot",
        channel_type=channel_type,
        external_id=external_id,
        display_name=display_name,
    )


async def issue_ui_code(session: AsyncSession, user: User) -> IssuedCode:
    """A code for a signed-in user, to be sent to the bot as `/link CODE`."""
    return await _issue(session, "ui", user_id=user.id)


async def issue_destination_code(session: AsyncSession, binding: ChannelBinding) -> IssuedCode:
    """A code sent to a pending destination; typing it back proves the user controls it."""
    return await _issue(
        session,
        "destination",
        user_id=binding.user_id,
        channel_type=binding.channel_type,
        external_id=binding.external_id,
    )


async def check_attempts(session: AsyncSession, subject: str) -> None:
    """Refuse (429) a subject with too many failed code attempts in the last 15 minutes."""
    failures = await session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.kind == "channel.link_failed",
            AuditEvent.detail["subject"].as_string() == subject,
            AuditEvent.created_at > utcnow() - CODE_TTL,
        )
    )
    if (failures or 0) >= MAX_FAILURES:
        raise LinkError("Too many wrong codes; wait 15 minutes and request a new code", 429)


async def attempt_code(
    session: AsyncSession,
    subject: str,
    user_id: str | None,
    redeem: Callable[[AsyncSession], Awaitable[T]],
) -> T:
    """Run one code redemption and commit, refusing subjects that guessed too often; a refused
    code undoes only the redemption (a savepoint) and commits the audited failure."""
    await check_attempts(session, subject)
    try:
        async with session.begin_nested():
            result = await redeem(session)
    except LinkError as exc:
        if exc.status == 400:
            audit(session, "channel.link_failed", user_id, subject=subject, reason=exc.message)
        await session.commit()
        raise
    await session.commit()
    return result


async def _claim(session: AsyncSession, code: str, issued_by: str, **match: Any) -> LinkCode:
    """Mark a valid code used (exactly once, even under concurrent redemptions) and return it."""
    row = await session.scalar(
        sa.select(LinkCode).where(
            LinkCode.code_hash == hash_code(code),
            LinkCode.issued_by == issued_by,
            *(getattr(LinkCode, name) == value for name, value in match.items()),
        )
    )
    if row is None:
        raise LinkError("Unknown code: check it, or request a new one")
    if row.used_at is not None:
        raise LinkError("This code was already used: request a new one")
    if row.expires_at <= utcnow():
        raise LinkError("This code has expired (codes last 15 minutes): request a new one")
    claimed = await session.execute(
        sa.update(LinkCode)
        .where(LinkCode.id == row.id, LinkCode.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise LinkError("This code was already used: request a new one")
    return row


async def _bind(
    session: AsyncSession,
    user_id: str,
    channel_type: str,
    external_id: str,
    display_name: str | None,
) -> ChannelBinding:
    """Create or verify the binding of a chat to `user_id`; 409 when another user holds it."""
    binding = await find_binding(session, channel_type, external_id)
    if binding is not None and binding.user_id != user_id:
        raise LinkError(
            f"{channel_type}:{external_id} is linked to another user; they must unlink it first",
            409,
        )
    if binding is None:
        binding = ChannelBinding(
            user_id=user_id, channel_type=channel_type, external_id=external_id
        )
        session.add(binding)
    binding.display_name = display_name or binding.display_name
    binding.status, binding.verified_at = "verified", utcnow()
    await session.flush()
    audit(session, "channel.linked", user_id, channel=f"{channel_type}:{external_id}")
    return binding


async def redeem_bot_code(session: AsyncSession, user: User, code: str) -> ChannelBinding:
    """A signed-in user redeems the code a bot gave their chat: the chat becomes theirs."""
    row = await _claim(session, code, "bot")
    if not row.channel_type or not row.external_id:
        raise LinkError("Unknown code: check it, or request a new one")
    return await _bind(session, user.id, row.channel_type, row.external_id, row.display_name)


async def redeem_ui_code(
    session: AsyncSession, channel_type: str, external_id: str, display_name: str | None, code: str
) -> tuple[ChannelBinding, User]:
    """A chat sends `/link CODE` with a code the UI showed a user: the chat becomes theirs."""
    row = await _claim(session, code, "ui")
    user = await session.get(User, row.user_id)
    if user is None:
        raise LinkError("Unknown code: check it, or request a new one")
    binding = await _bind(session, user.id, channel_type, external_id, display_name)
    return binding, user


async def verify_destination(
    session: AsyncSession, binding: ChannelBinding, code: str
) -> ChannelBinding:
    """The user typed back the code sent to a pending destination: it becomes verified."""
    await _claim(
        session,
        code,
        "destination",
        user_id=binding.user_id,
        channel_type=binding.channel_type,
        external_id=binding.external_id,
    )
    return await _bind(
        session, binding.user_id, binding.channel_type, binding.external_id, binding.display_name
    )


async def find_binding(
    session: AsyncSession, channel_type: str, external_id: str
) -> ChannelBinding | None:
    return await session.scalar(
        sa.select(ChannelBinding).where(
            ChannelBinding.channel_type == channel_type,
            ChannelBinding.external_id == external_id,
        )
    )


async def list_bindings(
    session: AsyncSession, user_id: str, verified_only: bool = False
) -> list[ChannelBinding]:
    query = sa.select(ChannelBinding).where(ChannelBinding.user_id == user_id)
    if verified_only:
        query = query.where(ChannelBinding.status == "verified")
    return list(await session.scalars(query.order_by(ChannelBinding.created_at)))


async def verified_bindings_of(
    session: AsyncSession, user_ids: set[str]
) -> dict[str, list[ChannelBinding]]:
    """Each user's verified bindings, oldest first, in one statement (users without any map to
    an empty list)."""
    found: dict[str, list[ChannelBinding]] = {user_id: [] for user_id in user_ids}
    if user_ids:
        query = sa.select(ChannelBinding).where(
            ChannelBinding.user_id.in_(user_ids), ChannelBinding.status == "verified"
        )
        for binding in await session.scalars(query.order_by(ChannelBinding.created_at)):
            found[binding.user_id].append(binding)
    return found


async def verified_bindings(runtime: Runtime, user_id: str) -> list[ChannelBinding]:
    """The user's verified bindings, read without waiting for (or taking) SQLite's write lock,
    which the caller's own request may already hold."""
    async with runtime.read_sessions() as session:
        return await list_bindings(session, user_id, verified_only=True)


async def unlink(session: AsyncSession, user: User, channel_type: str, external_id: str) -> bool:
    """Delete one of the user's bindings; False when they have no such binding."""
    binding = await find_binding(session, channel_type, external_id)
    if binding is None or binding.user_id != user.id:
        return False
    await session.delete(binding)
    audit(session, "channel.unlinked", user.id, channel=f"{channel_type}:{external_id}")
    return True


def binding_json(binding: ChannelBinding) -> dict[str, Any]:
    """A binding as the API shows it (never an Apprise URL: it holds the destination's secrets)."""
    return {
        "type": binding.channel_type,
        "externalId": binding.external_id,
        "target": f"{binding.channel_type}:{binding.external_id}",
        "displayName": binding.display_name,
        "status": binding.status,
        "createdAt": binding.created_at.isoformat() if binding.created_at else None,
        "verifiedAt": binding.verified_at.isoformat() if binding.verified_at else None,
    }
