"""attempts, replays linked to their originals, the log's indexes and (SQLite) body search

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attempts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("execution_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("exchange", sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["execution_id"], ["executions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("execution_id", "number", name="uq_attempts_number"),
    )
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replay_of", sa.String(length=32), nullable=True))
    op.create_index("ix_executions_created", "executions", ["created_at", "id"])
    op.create_index(
        "ix_executions_status_created", "executions", ["status", "hook_id", "created_at"]
    )
    op.create_index("ix_deliveries_delivery_id", "deliveries", ["delivery_id"])
    op.create_index("ix_deliveries_event", "deliveries", ["event_type", "id"])
    if op.get_bind().dialect.name == "sqlite":
        # Words of the deliveries' bodies, rowid = the delivery's rowid; filled by the leader
        # in batches (queue/search.py), not at ingest.
        op.execute("CREATE VIRTUAL TABLE delivery_search USING fts5(body)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE delivery_search")
    op.drop_index("ix_deliveries_event", table_name="deliveries")
    op.drop_index("ix_deliveries_delivery_id", table_name="deliveries")
    op.drop_index("ix_executions_status_created", table_name="executions")
    op.drop_index("ix_executions_created", table_name="executions")
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.drop_column("replay_of")
    op.drop_table("attempts")
