"""executions: partial index of each hook's waiting rows, oldest first (claims read it)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DUE_ROWS = "status IN ('queued', 'retrying')"


def upgrade() -> None:
    op.create_index(
        "ix_executions_due",
        "executions",
        ["hook_id", "created_at", "id"],
        unique=False,
        sqlite_where=sa.text(DUE_ROWS),
        postgresql_where=sa.text(DUE_ROWS),
    )


def downgrade() -> None:
    op.drop_index("ix_executions_due", table_name="executions")
