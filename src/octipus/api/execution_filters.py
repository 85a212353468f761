"""The execution log's filters, shared by the list and the bulk replay: query values to SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa
from fastapi import Query
from sqlalchemy.ext.asyncio import AsyncSession

from octipus.api.errors import ApiError
from octipus.db.tables import STATUSES, Delivery, Execution, Hook, User
from octipus.search import body_contains

# Matches counted at most: past it `total` stops and `totalCapped` is true (an exact count of
# a million rows takes seconds on SQLite; "10000+" is what a person needs). Filters on the
# delivery (event, q) likewise look at the newest COUNT_CAP + 1 matching deliveries.
COUNT_CAP = 10_000
StatusName = StrEnum("StatusName", {s: s for s in STATUSES})  # type: ignore[misc]


@dataclass
class LogFilter:
    """What the caller asked for; each set field narrows the rows."""

    hook_id: str | None = None
    statuses: list[str] = field(default_factory=list)
    event: str | None = None
    delivery_id: str | None = None
    since: str | None = None
    until: str | None = None
    q: str | None = None

    def conditions(self, session: AsyncSession) -> list[sa.ColumnElement[bool]]:
        """The WHERE terms (on executions joined with hooks and deliveries)."""
        self._check_text()
        terms: list[sa.ColumnElement[bool]] = []
        if self.hook_id:
            terms.append(Execution.hook_id == self.hook_id)
        if statuses := [s for s in self.statuses if s]:
            for status in statuses:
                if status not in STATUSES:
                    raise ApiError(
                        400, f"status must be one of {', '.join(STATUSES)} (got {status[:40]!r})"
                    )
            terms.append(Execution.status.in_(statuses))
        if self.event:
            newest = (
                sa.select(Delivery.id)
                .where(Delivery.event_type == self.event)
                .order_by(Delivery.id.desc())
                .limit(COUNT_CAP + 1)
            )
            terms.append(Execution.delivery_pk.in_(newest))
        if self.delivery_id:
            ours_or_theirs = sa.or_(
                Delivery.delivery_id == self.delivery_id, Delivery.id == self.delivery_id
            )
            terms.append(Execution.delivery_pk.in_(sa.select(Delivery.id).where(ours_or_theirs)))
        if self.since:
            terms.append(Execution.created_at >= _instant("since", self.since))
        if self.until:
            terms.append(Execution.created_at < _instant("until", self.until))
        if self.q:
            terms.append(body_contains(session, self.q, COUNT_CAP + 1))
        return terms

    def _check_text(self) -> None:
        """400 for text no database can compare: a NUL or a lone surrogate (JSON allows both)."""
        fields = {"hookId": self.hook_id, "event": self.event, "deliveryId": self.delivery_id}
        for name, value in {
            **fields,
            "since": self.since,
            "until": self.until,
            "q": self.q,
        }.items():
            if value is None:
                continue
            try:
                value.encode()
            except UnicodeEncodeError:
                raise ApiError(
                    400, f"{name} is not valid Unicode text (a lone surrogate)"
                ) from None
            if "\x00" in value:
                raise ApiError(400, f"{name} must not contain a NUL character")


def _instant(name: str, value: str) -> datetime:
    """An ISO 8601 time (UTC when it names no zone); 400 naming the parameter otherwise."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(
            400, f"{name} must be an ISO 8601 time, e.g. 2026-12-04T10:00:00Z (got {value[:40]!r})"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def visible(query: sa.Select, user: User) -> sa.Select:
    """Restrict to executions of the user's hooks unless the user is an admin."""
    return query if user.is_admin else query.where(Hook.owner_id == user.id)


def log_filter(
    hook: str | None = Query(None, alias="hookId", description="Only this hook's executions"),
    status: list[str] = Query(
        [], description=f"Only these statuses, of {', '.join(STATUSES)} (repeatable)"
    ),
    event: str | None = Query(None, max_length=200, description="Only this event type"),
    delivery_id: str | None = Query(
        None, alias="deliveryId", max_length=200, description="The sender's or our delivery id"
    ),
    since: str | None = Query(None, description="Created at or after (ISO 8601)"),
    until: str | None = Query(None, description="Created before (ISO 8601)"),
    q: str | None = Query(
        None, min_length=1, max_length=200, description="Words in the delivery's body (a phrase)"
    ),
) -> LogFilter:
    """The filters from the query string (a FastAPI dependency)."""
    return LogFilter(hook, status, event, delivery_id, since, until, q)
