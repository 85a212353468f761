"""`octipus users create` and `octipus tokens create` (run on the server's machine)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from octipus.accounts import AccountError, create_token, create_user, find_user
from octipus.config import Settings

users_app = typer.Typer(no_args_is_help=True, help="Users.")
tokens_app = typer.Typer(no_args_is_help=True, help="API tokens.")


Work = Callable[[AsyncSession], Awaitable[str]]


async def _in_session(work: Work) -> str:
    from octipus.app import prepare_database
    from octipus.runtime import Runtime  # not at import: `octipus serve` sets up metrics first

    runtime = Runtime.create(Settings())
    try:
        await prepare_database(runtime)
        async with runtime.sessions.begin() as session:
            return await work(session)
    finally:
        await runtime.close()


def _run(work: Work) -> str:
    try:
        return asyncio.run(_in_session(work))
    except AccountError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        raise typer.Exit(1) from None


@users_app.command("create")
def users_create(
    name: str,
    admin: bool = typer.Option(False, "--admin", help="Admins see and manage every user's hooks."),
) -> None:
    """Create a user and print its first API token (shown once)."""

    async def work(session: AsyncSession) -> str:
        user = await create_user(session, name, is_admin=admin)
        return await create_token(session, user)

    token = _run(work)
    typer.echo(f"created user '{name}'{' (admin)' if admin else ''}; token (shown once):")
    typer.echo(token)


@tokens_app.command("create")
def tokens_create(
    user: str, name: str = typer.Option("cli", help="A label for the token.")
) -> None:
    """Create another API token for USER and print it (shown once)."""

    async def work(session: AsyncSession) -> str:
        return await create_token(session, await find_user(session, user), name=name)

    typer.echo(_run(work))
