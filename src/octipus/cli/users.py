"""`octipus users create | list` and `octipus tokens create` (on the server's machine: they open
its database), `octipus tokens list | revoke` (through the API, from anywhere)."""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from octipus.accounts import AccountError, create_token, create_user, find_user, list_users
from octipus.cli.client import (
    JSON_OPTION,
    TOKEN_OPTION,
    URL_OPTION,
    Api,
    existing_database,
    fail,
    print_json,
)
from octipus.config import Settings

users_app = typer.Typer(no_args_is_help=True, help="Users.")
tokens_app = typer.Typer(no_args_is_help=True, help="API tokens.")

T = TypeVar("T")


async def _in_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """`work` on the database the server made (and migrated: `octipus db upgrade` after an
    update when the server has not started since)."""
    from octipus.runtime import Runtime  # not at import: `octipus serve` sets up metrics first

    runtime = Runtime.create(existing_database(Settings()))
    try:
        async with runtime.sessions.begin() as session:
            return await work(session)
    finally:
        await runtime.close()


def _run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in a transaction on the server's existing database; exit 1 on AccountError."""
    try:
        return asyncio.run(_in_session(work))
    except AccountError as exc:
        fail(str(exc))


def _created(user: str, name: str, token: str, admin: bool, json: bool) -> None:
    if json:
        print_json({"user": user, "name": name, "isAdmin": admin, "token": token})
        return
    typer.echo(f"created user '{user}'{' (admin)' if admin else ''}; token (shown once):")
    typer.echo(token)


@users_app.command("create")
def users_create(
    name: str,
    admin: bool = typer.Option(False, "--admin", help="Admins see and manage every user's hooks."),
    json: bool = JSON_OPTION,
) -> None:
    """Create a user and print its first API token (shown once)."""

    async def work(session: AsyncSession) -> str:
        user = await create_user(session, name, is_admin=admin)
        return await create_token(session, user)

    _created(name.strip(), "default", _run(work), admin, json)


@users_app.command("list")
def users_list(json: bool = JSON_OPTION) -> None:
    """List users: name, admin, tokens held, created."""
    users = _run(list_users)
    if json:
        print_json(users)
        return
    for u in users:
        role = "admin" if u["isAdmin"] else "user "
        typer.echo(f"{u['createdAt']}  {role}  {u['tokens']} token(s)  {u['name']}")


@tokens_app.command("create")
def tokens_create(
    user: str,
    name: str = typer.Option("cli", help="A label for the token."),
    json: bool = JSON_OPTION,
) -> None:
    """Create another API token for USER and print it (shown once)."""

    async def work(session: AsyncSession) -> str:
        return await create_token(session, await find_user(session, user), name=name)

    token = _run(work)
    if json:
        print_json({"user": user, "name": name, "token": token})
    else:
        typer.echo(token)


def _token_line(t: dict[str, Any]) -> str:
    return f"{t['id']}  {t['prefix'] or '?'}…  {t['createdAt']}  {t['user']}  {t['name']}"


@tokens_app.command("list")
def tokens_list(
    user: str | None = typer.Option(None, "--user", help="Admins: another user's tokens"),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    json: bool = JSON_OPTION,
) -> None:
    """List your tokens (id, first characters, created, user, name); never the tokens."""
    with Api(url, token) as client:
        params = {"user": user} if user else None
        tokens = client.get("/api/auth/tokens", "tokens", params=params)["tokens"]
    if json:
        print_json(tokens)
        return
    for t in tokens:
        typer.echo(_token_line(t))


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: str = typer.Argument(..., metavar="ID", help="The id `octipus tokens list` shows"),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    json: bool = JSON_OPTION,
) -> None:
    """Revoke a token: it stops working at once, on every server process."""
    with Api(url, token) as client:
        answer = client.delete(
            f"/api/auth/tokens/{urllib.parse.quote(token_id, safe='')}", "revoked"
        )
    if json:
        print_json(answer)
    else:
        typer.echo(f"revoked {token_id}")
