"""The `octipus` command. Each sub-command group lives in its own module."""

from __future__ import annotations

import typer

from octipus.cli import db, executions, hooks, send, serve, users

app = typer.Typer(
    no_args_is_help=True, help="Octipus Hooks: verified webhooks in, durable actions out."
)
serve.register(app)
send.register(app)
app.add_typer(db.app, name="db")
app.add_typer(users.users_app, name="users")
app.add_typer(users.tokens_app, name="tokens")
app.add_typer(hooks.app, name="hooks")
app.add_typer(executions.app, name="executions")


def main() -> None:
    app()
