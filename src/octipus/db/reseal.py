"""At start: make sure a key exists, that every stored secret decrypts with the configured keys,
and encrypt with the primary key whatever is stored in plain text or under an older key."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from octipus.config import Settings
from octipus.db.connectors import connector_for
from octipus.db.keyring import (
    HELP,
    KEY_ID,
    Keyring,
    SecretKeyError,
    active_keyring,
    generate_key,
    is_sealed,
    load_keyring,
    use_keys,
    write_key_file,
)
from octipus.db.sealed import SealedJSON
from octipus.db.tables import ChannelBinding, Hook, JSONType

log = logging.getLogger(__name__)

SEALED_TABLES = tuple(cast(sa.Table, t.__table__) for t in (Hook, ChannelBinding))


def _sealed_columns(table: sa.Table) -> list[tuple[sa.Column[Any], SealedJSON]]:
    return [(c, c.type) for c in table.columns if isinstance(c.type, SealedJSON)]


def _stored_secrets(value: Any, fields: tuple[str, ...]) -> Iterator[Any]:
    """The stored form of each secret in one raw column value."""
    if not isinstance(value, dict):
        return
    for key in fields:
        item = value.get(key)
        yield from item if isinstance(item, list) else [item]


def _is_stale(stored: Any, keyring: Keyring) -> bool:
    """Whether a stored secret must be written again: plain text, or under an older key.

    Raises SecretKeyError when it does not decrypt with the configured keys."""
    if is_sealed(stored):
        keyring.open(stored)
        return stored.get(KEY_ID) != keyring.primary
    return isinstance(stored, str) and bool(stored)


async def _reseal_table(conn: AsyncConnection, table: sa.Table, keyring: Keyring) -> int:
    columns = _sealed_columns(table)
    raw = [sa.type_coerce(c, JSONType).label(c.name) for c, _ in columns]
    query = sa.select(table.c.id, *raw).with_for_update()
    stale = [
        row
        for row in (await conn.execute(query)).mappings()
        if any(
            _is_stale(stored, keyring)
            for c, sealed in columns
            for stored in _stored_secrets(row[c.name], sealed.fields)
        )
    ]
    kept = {"updated_at": table.c.updated_at} if "updated_at" in table.c else {}
    for row in stale:
        plain = {c.name: t.process_result_value(row[c.name], conn.dialect) for c, t in columns}
        await conn.execute(sa.update(table).where(table.c.id == row["id"]).values(**plain, **kept))
    return len(stale)


async def reseal(engine: AsyncEngine) -> int:
    """Check every stored secret and encrypt the stale ones with the primary key; rows written."""
    keyring = active_keyring()
    async with engine.begin() as conn:
        written = [await _reseal_table(conn, table, keyring) for table in SEALED_TABLES]
    return sum(written)


async def _holds_sealed(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        for table in SEALED_TABLES:
            for column, sealed in _sealed_columns(table):
                query = sa.select(sa.type_coerce(column, JSONType))
                for (value,) in await conn.execute(query):
                    if any(is_sealed(s) for s in _stored_secrets(value, sealed.fields)):
                        return True
    return False


async def prepare_secrets(engine: AsyncEngine, settings: Settings) -> None:
    """Use the keys of `settings` (creating the key file on first start), then `reseal`."""
    use_keys(settings)
    if load_keyring(settings) is None:
        path = settings.secret_key_file
        if await _holds_sealed(engine):
            raise SecretKeyError(
                f"the database holds encrypted secrets but there is no key: restore {path}"
                f" from a backup or set OCTIPUS_SECRET_KEY ({HELP})"
            )
        try:
            write_key_file(path, [generate_key()], create=True)
            log.info("created the secret key file", extra={"path": str(path)})
        except FileExistsError:
            pass  # another process sharing this data dir made it first
        active_keyring(reload=True)
    if connector_for(settings.database_url).shared_by_nodes and settings.secret_key is None:
        log.warning(
            "every node on this database must share the secret key: set OCTIPUS_SECRET_KEY to"
            " the contents of the key file on every node (README, Scale-out)",
            extra={"path": str(settings.secret_key_file)},
        )
    written = await reseal(engine)
    if written:
        log.info("encrypted stored secrets with the current key", extra={"rows": written})
