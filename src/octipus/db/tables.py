"""SQLAlchemy 2 tables. The `executions` table is also the durable queue (DESIGN §4)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from octipus.db.ids import new_id
from octipus.db.sealed import ACTION_SECRETS, CHANNEL_SECRETS, TRIGGER_SECRETS, SealedJSON


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONType, list[Any]: JSONType, datetime: UTCDateTime}


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    is_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="default")
    prefix: Mapped[str | None] = mapped_column(sa.String(16))  # shown in listings, never more
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]


class Hook(Base):
    __tablename__ = "hooks"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str | None] = mapped_column(sa.Text)
    trigger: Mapped[str] = mapped_column(sa.String(32), default="webhook")
    webhook_path: Mapped[str] = mapped_column(sa.String(500), index=True)
    trigger_config: Mapped[dict[str, Any]] = mapped_column(
        SealedJSON(*TRIGGER_SECRETS), default=dict
    )
    action: Mapped[str] = mapped_column(sa.String(32))
    action_config: Mapped[dict[str, Any]] = mapped_column(SealedJSON(*ACTION_SECRETS), default=dict)
    conditions: Mapped[list[Any]] = mapped_column(default=list)
    is_enabled: Mapped[bool] = mapped_column(default=True)
    priority: Mapped[int] = mapped_column(default=0)
    max_executions: Mapped[int | None]
    execution_count: Mapped[int] = mapped_column(default=0)
    cooldown_ms: Mapped[int] = mapped_column(default=0)
    # Executions of this hook running at once, across all workers (None: the default cap).
    concurrency: Mapped[int | None]
    retry_max_attempts: Mapped[int | None]
    # Failed attempts in a row (a success resets it), when the owner was last alerted, and the
    # opt-in auto-pause: after `auto_pause_after` failures in a row the hook is disabled with a
    # reason until resumed (alerts.py); deliveries meanwhile are stored as `held` executions.
    failure_streak: Mapped[int] = mapped_column(default=0, server_default="0")
    last_alert_at: Mapped[datetime | None]
    auto_pause_after: Mapped[int | None]
    paused_reason: Mapped[str | None] = mapped_column(sa.Text)
    paused_at: Mapped[datetime | None]
    last_executed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    last_warning: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Delivery(Base):
    """One accepted request, kept whole (raw body) so every execution and replay sees it."""

    __tablename__ = "deliveries"
    # A path's deliveries in id (arrival) order: what `octipus listen` pages through; and the
    # log's `event` filter: the newest deliveries of an event type.
    __table_args__ = (
        sa.Index("ix_deliveries_path_id", "path", "id"),
        sa.Index("ix_deliveries_event", "event_type", "id"),
    )

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    path: Mapped[str] = mapped_column(sa.String(500))
    delivery_id: Mapped[str | None] = mapped_column(sa.String(200), index=True)
    event_type: Mapped[str | None] = mapped_column(sa.String(200))
    method: Mapped[str] = mapped_column(sa.String(10), default="POST")
    content_type: Mapped[str | None] = mapped_column(sa.String(200))
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The headers `headers` leaves out (signatures, tokens), encrypted as one JSON object
    # (ingress/headers.py `sealed_headers`): only `octipus listen` replays them, to the owner.
    sealed_headers: Mapped[dict[str, Any] | None]
    query: Mapped[dict[str, Any]] = mapped_column(default=dict)
    body: Mapped[bytes] = mapped_column(sa.LargeBinary, default=b"")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    body_pruned_at: Mapped[datetime | None]  # the body was cleared (OCTIPUS_RETENTION_BODY_DAYS)


# The queue's waiting rows. `ix_executions_due` covers only these; claims repeat the condition
# with the same literals (not bound parameters) so that the planner can use that partial index.
WAITING_STATUSES = ("queued", "retrying")
WAITING_ROWS = f"status IN ({', '.join(repr(s) for s in WAITING_STATUSES)})"
# Statuses an execution never leaves (retention may delete these).
FINISHED_STATUSES = ("success", "error", "skipped", "cancelled")
STATUSES = ("queued", "held", "running", "retrying", *FINISHED_STATUSES)


class Execution(Base):
    """One run of one hook's action for one delivery; rows in queued/retrying are the queue."""

    __tablename__ = "executions"
    __table_args__ = (
        sa.UniqueConstraint("hook_id", "dedupe_key", name="uq_executions_hook_dedupe"),
        sa.Index("ix_executions_claim", "status", "run_after"),
        sa.Index("ix_executions_hook_created", "hook_id", "created_at"),
        sa.Index("ix_executions_changed", "changed_at", "id"),  # the live stream's cursor
        # The log, newest first: unfiltered (admins), and by status within the caller's hooks.
        sa.Index("ix_executions_created", "created_at", "id"),
        sa.Index("ix_executions_status_created", "status", "hook_id", "created_at"),
        # Each hook's waiting rows, oldest first: what a claim reads (queue/queries.py).
        sa.Index(
            "ix_executions_due",
            "hook_id",
            "created_at",
            "id",
            sqlite_where=sa.text(WAITING_ROWS),
            postgresql_where=sa.text(WAITING_ROWS),
        ),
    )

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    hook_id: Mapped[str] = mapped_column(sa.ForeignKey("hooks.id", ondelete="CASCADE"))
    delivery_pk: Mapped[str | None] = mapped_column(
        sa.ForeignKey("deliveries.id", ondelete="SET NULL"), index=True
    )
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(200))
    source: Mapped[str] = mapped_column(sa.String(20), default="hook")
    status: Mapped[str] = mapped_column(sa.String(20), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=8)
    trigger_type: Mapped[str] = mapped_column(sa.String(32), default="webhook")
    action_type: Mapped[str] = mapped_column(sa.String(32))
    result: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(sa.Text)
    duration_ms: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    lease_expires_at: Mapped[datetime | None]
    worker_id: Mapped[str | None] = mapped_column(sa.String(64))
    # Set by every write (SQLAlchemy applies `onupdate` to UPDATEs that leave the column out):
    # the cursor of GET /api/executions/stream (api/execution_stream.py).
    changed_at: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)
    # A replay names the execution it replays (kept as text: the original may be pruned first).
    replay_of: Mapped[str | None] = mapped_column(sa.String(32))


class Attempt(Base):
    """One finished run of an execution's action: what was sent, what came back, what next."""

    __tablename__ = "attempts"
    __table_args__ = (sa.UniqueConstraint("execution_id", "number", name="uq_attempts_number"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    execution_id: Mapped[str] = mapped_column(sa.ForeignKey("executions.id", ondelete="CASCADE"))
    number: Mapped[int]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime]
    duration_ms: Mapped[int]
    outcome: Mapped[str] = mapped_column(sa.String(20))  # success | retrying | error
    error: Mapped[str | None] = mapped_column(sa.Text)
    # {"request": {method, url, headers, body, bodyTruncated}, "response": {status, ...}}
    exchange: Mapped[dict[str, Any] | None]
    next_attempt_at: Mapped[datetime | None]


class Rejection(Base):
    """A refused ingress request, kept per path so that '401 on webhook' can be diagnosed."""

    __tablename__ = "rejections"
    __table_args__ = (sa.Index("ix_rejections_path_time", "path", "received_at"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    path: Mapped[str] = mapped_column(sa.String(500))
    status_code: Mapped[int]
    reason: Mapped[str] = mapped_column(sa.Text)
    event_type: Mapped[str | None] = mapped_column(sa.String(200))
    delivery_id: Mapped[str | None] = mapped_column(sa.String(200))
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    remote_addr: Mapped[str | None] = mapped_column(sa.String(100))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # " id1 id2 ": the users owning an enabled hook on the path when the request arrived, who
    # (with admins) may read it (ingress/rejections.py).
    owner_ids: Mapped[str | None] = mapped_column(sa.Text)


class ChannelBinding(Base):
    """A user's Telegram/Slack/Apprise destination; only `verified` ones receive notifications."""

    __tablename__ = "channel_bindings"
    __table_args__ = (
        sa.UniqueConstraint("channel_type", "external_id", name="uq_binding_channel"),
    )

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel_type: Mapped[str] = mapped_column(sa.String(32))
    external_id: Mapped[str] = mapped_column(sa.String(500))
    display_name: Mapped[str | None] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")
    config: Mapped[dict[str, Any]] = mapped_column(SealedJSON(*CHANNEL_SECRETS), default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    verified_at: Mapped[datetime | None]


class LinkCode(Base):
    """A one-time linking code, stored hashed; issued by the bot or by the UI (DESIGN §6)."""

    __tablename__ = "link_codes"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    issued_by: Mapped[str] = mapped_column(sa.String(20))  # "bot" | "ui"
    channel_type: Mapped[str | None] = mapped_column(sa.String(32))
    external_id: Mapped[str | None] = mapped_column(sa.String(500))
    display_name: Mapped[str | None] = mapped_column(sa.String(200))
    user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class AuditEvent(Base):
    """Who did what to a security-relevant object, and when (links, unlinks, tokens)."""

    __tablename__ = "audit_events"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    user_id: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    kind: Mapped[str] = mapped_column(sa.String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
