"""JSON columns whose secret fields are stored encrypted (db/keyring.py), read back in plain text.

The rest of the code sees plain dicts: a secret field (a string, or a list of strings) is
encrypted as it is written and decrypted as it is read. Values written before encryption
existed are plain strings; they read as they are until the start-up pass encrypts them
(db/reseal.py).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

from octipus.db.keyring import active_keyring, is_sealed, open_sealed

TRIGGER_SECRETS = ("webhookSecret", "webhookSecrets")
ACTION_SECRETS = ("signingSecret",)
CHANNEL_SECRETS = ("url",)  # an Apprise URL carries the destination's tokens


def _map_secrets(config: dict[str, Any], fields: tuple[str, ...], change: Any) -> dict[str, Any]:
    """A copy of `config` with `change` applied to each secret (a field, or a field's items)."""
    out = dict(config)
    for key in fields:
        value = out.get(key)
        if isinstance(value, list):
            out[key] = [change(item) for item in value]
        elif value is not None:
            out[key] = change(value)
    return out


def seal_secrets(config: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """`config` with the plain strings of its secret `fields` encrypted with the primary key."""
    if not any(config.get(key) for key in fields):
        return config
    keyring = active_keyring()
    return _map_secrets(config, fields, lambda v: keyring.seal(v) if isinstance(v, str) else v)


def open_secrets(config: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """`config` with its encrypted secret `fields` decrypted."""
    if not any(config.get(key) for key in fields):
        return config
    return _map_secrets(config, fields, lambda v: open_sealed(v) if is_sealed(v) else v)


class SealedJSON(TypeDecorator[dict[str, Any]]):
    """A JSON object column whose `fields` are encrypted at rest."""

    impl = sa.JSON
    cache_ok = True

    def __init__(self, *fields: str):
        super().__init__()
        self.fields = fields

    def load_dialect_impl(self, dialect: sa.Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else sa.JSON())

    def process_bind_param(
        self, value: dict[str, Any] | None, dialect: sa.Dialect
    ) -> dict[str, Any] | None:
        return seal_secrets(value, self.fields) if isinstance(value, dict) else value

    def process_result_value(
        self, value: dict[str, Any] | None, dialect: sa.Dialect
    ) -> dict[str, Any] | None:
        return open_secrets(value, self.fields) if isinstance(value, dict) else value
