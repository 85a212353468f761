"""executions.changed_at (the live stream's cursor); hooks' failure streak, alert claim, auto-pause

Revision ID: 0012
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        sa.text("UPDATE executions SET changed_at = COALESCE(finished_at, started_at, created_at)")
    )
    op.create_index("ix_executions_changed", "executions", ["changed_at", "id"])
    with op.batch_alter_table("hooks") as batch:
        batch.add_column(
            sa.Column("failure_streak", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("last_alert_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("auto_pause_after", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("paused_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hooks") as batch:
        for column in (
            "paused_at",
            "paused_reason",
            "auto_pause_after",
            "last_alert_at",
            "failure_streak",
        ):
            batch.drop_column(column)
    op.drop_index("ix_executions_changed", table_name="executions")
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("changed_at")
