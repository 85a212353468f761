"""deliveries: the signature headers, encrypted, for `octipus listen`; index by path then id

Revision ID: 0009
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0012"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_headers", JSON, nullable=True))
        batch_op.drop_index("ix_deliveries_path")
        batch_op.create_index("ix_deliveries_path_id", ["path", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_path_id")
        batch_op.create_index("ix_deliveries_path", ["path"], unique=False)
        batch_op.drop_column("sealed_headers")
