"""Request dependencies: the runtime, a database session, the authenticated user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from octipus.accounts import user_for_token
from octipus.api.errors import ApiError
from octipus.db.tables import User
from octipus.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_session(
    request: Request, runtime: Annotated[Runtime, Depends(get_runtime)]
) -> AsyncIterator[AsyncSession]:
    """A session for the handler; GET handlers only read, so theirs never takes a write lock."""
    sessions = runtime.read_sessions if request.method == "GET" else runtime.sessions
    async with sessions() as session:
        yield session


_AUTH_HINT = 'send "Authorization: Bearer <token>" (the admin token is in <data dir>/admin-token)'


async def current_user(request: Request, runtime: Annotated[Runtime, Depends(get_runtime)]) -> User:
    """The token's user, looked up on a read-only session (no write lock held for the request)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise ApiError(401, f"Missing bearer token: {_AUTH_HINT}", {"WWW-Authenticate": "Bearer"})
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401, f"Malformed Authorization header: {_AUTH_HINT}", {"WWW-Authenticate": "Bearer"}
        )
    async with runtime.read_sessions() as session:
        user = await user_for_token(session, token.strip())
    if user is None:
        raise ApiError(401, "Invalid or revoked token", {"WWW-Authenticate": "Bearer"})
    return user


async def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
    if not user.is_admin:
        raise ApiError(403, "This needs an admin token")
    return user


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
UserDep = Annotated[User, Depends(current_user)]
AdminDep = Annotated[User, Depends(admin_user)]
