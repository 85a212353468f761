"""rejections: the owners who may read each one; rows from before are removed

Rows from before this revision name no owners (under the old rule anyone who later made a hook
on the path could read them) and may hold unbounded headers, so the log starts again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM rejections"))
    with op.batch_alter_table("rejections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_ids", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rejections", schema=None) as batch_op:
        batch_op.drop_column("owner_ids")
