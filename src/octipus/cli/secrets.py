"""`octipus secrets generate-key | rotate-key | drop-old-keys`: the keys that encrypt stored
secrets (run on the server's machine, as the server's user)."""

from __future__ import annotations

import asyncio
from typing import NoReturn

import typer

from octipus.cli.client import existing_database
from octipus.config import Settings
from octipus.db.keyring import ENV_NAME, Keyring, generate_key, load_keyring, write_key_file

app = typer.Typer(no_args_is_help=True, help="The keys that encrypt stored secrets.")


def _fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg="red")
    raise typer.Exit(1)


def _file_keyring(settings: Settings) -> Keyring:
    """The key file's keys; exit 1 when the keys come from the environment or are missing."""
    if settings.secret_key is not None:
        _fail(
            f"the keys come from {ENV_NAME}: put a new key (`octipus secrets generate-key`) first"
            " in it and keep the old one after it, on every node; restart them; then remove the"
            " old key and restart again (README, Secrets at rest)"
        )
    keyring = load_keyring(settings)
    if keyring is None:
        _fail(f"{settings.secret_key_file} does not exist: start the server once to create it")
    return keyring


def _reseal(settings: Settings) -> int:
    """Encrypt every stored secret with the primary key; the rows written."""
    from octipus.db.connectors import create_engine
    from octipus.db.keyring import use_keys
    from octipus.db.reseal import reseal

    async def run() -> int:
        engine = create_engine(settings)
        try:
            return await reseal(engine)
        finally:
            await engine.dispose()

    use_keys(settings)
    return asyncio.run(run())


@app.command("generate-key")
def generate() -> None:
    """Print a new key (for OCTIPUS_SECRET_KEY)."""
    typer.echo(generate_key())


@app.command("rotate-key")
def rotate() -> None:
    """Encrypt with a new key from now on and every stored secret with it; the old keys stay
    in the key file to decrypt until `octipus secrets drop-old-keys`."""
    settings = existing_database(Settings())
    keyring = _file_keyring(settings)
    write_key_file(settings.secret_key_file, [generate_key(), *keyring.keys])
    rows = _reseal(settings)
    typer.echo(
        f"new key in {settings.secret_key_file}; {rows} rows encrypted with it."
        " Drop the old keys with `octipus secrets drop-old-keys`."
    )


@app.command("drop-old-keys")
def drop_old() -> None:
    """Encrypt any secret still under an old key with the current one, then forget the old keys."""
    settings = existing_database(Settings())
    keyring = _file_keyring(settings)
    rows = _reseal(settings)
    write_key_file(settings.secret_key_file, [keyring.keys[0]])
    typer.echo(f"{rows} rows encrypted with the current key; old keys removed.")
