"""The `octipus` command. Each sub-command group lives in its own module."""

from __future__ import annotations

import typer

from octipus.cli import db, executions, hooks, listen, secrets, send, serve, users
from octipus.files import use_private_umask

app = typer.Typer(
    no_args_is_help=True,
    help="Octipus Hooks: verified webhooks in, durable actions out.",
    pretty_exceptions_show_locals=False,  # a crash's report must not print tokens or secrets
)
serve.register(app)
send.register(app)
listen.register(app)
app.add_typer(db.app, name="db")
app.add_typer(users.users_app, name="users")
app.add_typer(users.tokens_app, name="tokens")
app.add_typer(hooks.app, name="hooks")
app.add_typer(executions.app, name="executions")
app.add_typer(secrets.app, name="secrets")


def main() -> None:
    use_private_umask()  # before `serve` starts its other processes: they inherit it
    app()
