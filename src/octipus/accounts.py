"""Users and API tokens: tokens are random, shown once, stored as SHA-256 hashes (DESIGN §3.5)."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from octipus.config import Settings
from octipus.db.tables import ApiToken, User

log = logging.getLogger(__name__)
TOKEN_PREFIX = "oct_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class AccountError(ValueError):
    """A user or token operation that cannot be done as asked."""


async def create_user(session: AsyncSession, name: str, is_admin: bool = False) -> User:
    name = name.strip()
    if not name:
        raise AccountError("user name must not be empty")
    existing = await session.scalar(sa.select(User).where(User.name == name))
    if existing is not None:
        raise AccountError(f"user '{name}' already exists")
    user = User(name=name, is_admin=is_admin)
    session.add(user)
    await session.flush()
    return user


async def create_token(
    session: AsyncSession, user: User, token: str | None = None, name: str = "default"
) -> str:
    """Store a new token for `user` and return its plain text (the only time it is seen)."""
    plain = token or generate_token()
    session.add(
        ApiToken(
            user_id=user.id, token_hash=hash_token(plain), name=name, prefix=shown_prefix(plain)
        )
    )
    await session.flush()
    return plain


def shown_prefix(token: str) -> str:
    """The start of a token that listings show: at most 8 characters and a quarter of it (a
    short OCTIPUS_BOOTSTRAP_TOKEN keeps most of its characters hidden)."""
    return token[: min(8, len(token) // 4)]


def token_json(token: ApiToken, user_name: str) -> dict[str, Any]:
    """A token as listings show it: never the token, only its first characters."""
    return {
        "id": token.id,
        "name": token.name,
        "user": user_name,
        "prefix": token.prefix,
        "createdAt": token.created_at.isoformat(),
    }


async def list_tokens(session: AsyncSession, user: User) -> list[dict[str, Any]]:
    """`user`'s tokens, oldest first."""
    tokens = await session.scalars(
        sa.select(ApiToken)
        .where(ApiToken.user_id == user.id)
        .order_by(ApiToken.created_at, ApiToken.id)
    )
    return [token_json(t, user.name) for t in tokens]


async def revoke_token(session: AsyncSession, actor: User, token_id: str) -> bool:
    """Delete the token `token_id` if it is `actor`'s or `actor` is an admin; whether it was.
    Every request looks its token up in the database, so a revoked token fails at once on
    every serving process and node."""
    query = sa.delete(ApiToken).where(ApiToken.id == token_id)
    if not actor.is_admin:
        query = query.where(ApiToken.user_id == actor.id)
    result = await session.execute(query.execution_options(synchronize_session=False))
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def list_users(session: AsyncSession) -> list[dict[str, Any]]:
    """Every user with how many tokens they hold, oldest first."""
    rows = await session.execute(
        sa.select(User, sa.func.count(ApiToken.id))
        .outerjoin(ApiToken, ApiToken.user_id == User.id)
        .group_by(User.id)
        .order_by(User.created_at, User.id)
    )
    return [
        {
            "id": user.id,
            "name": user.name,
            "isAdmin": user.is_admin,
            "tokens": count,
            "createdAt": user.created_at.isoformat(),
        }
        for user, count in rows
    ]


async def user_for_token(session: AsyncSession, token: str) -> User | None:
    row = await session.execute(
        sa.select(User, ApiToken.id)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_token(token))
    )
    found = row.first()
    return found[0] if found else None


async def find_user(session: AsyncSession, name: str) -> User:
    user = await session.scalar(sa.select(User).where(User.name == name))
    if user is None:
        raise AccountError(f"no user named '{name}'; create it with `octipus users create {name}`")
    return user


async def bootstrap_admin(session: AsyncSession, settings: Settings) -> str | None:
    """On first start (no users), create `admin` and return its token; None when users exist."""
    if await session.scalar(sa.select(sa.func.count()).select_from(User)):
        return None
    admin = await create_user(session, "admin", is_admin=True)
    token = await create_token(session, admin, settings.bootstrap_token or None, name="bootstrap")
    if not settings.bootstrap_token:
        _write_admin_token(settings.data_dir, token)
    return token


def _write_admin_token(data_dir: Path, token: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = data_dir / "admin-token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    os.chmod(path, 0o600)
