"""hooks.last_warning: what the last run succeeded despite (e.g. notifyOwner had no channel);
api_tokens.prefix: the first characters of a token, to tell tokens apart in listings

Revision ID: 0008
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hooks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_warning", sa.Text(), nullable=True))
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prefix", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("prefix")
    with op.batch_alter_table("hooks", schema=None) as batch_op:
        batch_op.drop_column("last_warning")
