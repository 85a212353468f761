"""hooks: drop triggerConfig fields their provider does not use

`triggerConfig` became one typed model per provider, which refuses a field another provider
uses. Before, `allowSha1`, `algorithm`, `encoding` and `prefix` were accepted with any provider
and ignored by all but their own; a hook stored that way would now refuse every delivery as
misconfigured, so those ignored fields are removed (nothing verified with them).

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

# Field -> the providers that read it (None and "auto" are the same provider).
_USED_BY = {
    "allowSha1": (None, "auto", "github"),
    "algorithm": ("hmac",),
    "encoding": ("hmac",),
    "prefix": ("hmac",),
}
_hooks = sa.table(
    "hooks",
    sa.column("id", sa.String),
    sa.column("trigger_config", sa.JSON().with_variant(JSONB(), "postgresql")),
)


def without_unused_fields(config: dict[str, Any]) -> dict[str, Any]:
    """`config` minus the fields its provider ignores."""
    provider = config.get("provider")
    return {k: v for k, v in config.items() if provider in _USED_BY.get(k, (provider,))}


def upgrade() -> None:
    bind = op.get_bind()
    for hook_id, config in bind.execute(sa.select(_hooks.c.id, _hooks.c.trigger_config)).all():
        if not isinstance(config, dict):
            continue
        kept = without_unused_fields(config)
        if kept != config:
            bind.execute(_hooks.update().where(_hooks.c.id == hook_id).values(trigger_config=kept))


def downgrade() -> None:
    pass  # the removed fields were ignored: nothing to restore
