"""The security audit log: record an event inside a use case's transaction, list a tenant's.

Events are written in the same unit of work as what they describe, so a login that rolls back
leaves no "login.succeeded" behind; a failure is recorded and committed on its own.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from domain.errors import InvalidRequest
from domain.identity import AuditEvent, AuditKind
from domain.ports import UnitOfWork, UnitOfWorkFactory

# Cursor helpers shared with the job listings: one opaque cursor format for the whole API.
from domain.services.jobs import MAX_PAGE, _encode_cursor, _page_size, _split_cursor
from domain.tenancy import Principal


def record(
    uow: UnitOfWork,
    kind: AuditKind,
    *,
    tenant_id: uuid.UUID | None,
    now: dt.datetime,
    user_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one event to the unit of work (the caller commits)."""
    event = AuditEvent(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        kind=kind.value,
        created_at=now,
        user_id=user_id,
        actor_id=actor_id,
        detail=detail,
    )
    uow.audit.add(event)
    return event


def actor_of(principal: Principal) -> uuid.UUID | None:
    """Who acted: the logged-in user, else the API key."""
    return principal.user_id or principal.key_id


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    next_cursor: str | None


def list_events(
    principal: Principal,
    uow_factory: UnitOfWorkFactory,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> AuditPage:
    """The caller's tenant's events, newest first (admins only: the route's guard checks)."""
    limit = _page_size(limit)
    after = _decode_cursor(cursor) if cursor else None
    with uow_factory(read_only=True) as uow:
        events = uow.audit.list(principal.tenant_id, after=after, limit=limit + 1)
    more = len(events) > limit
    events = events[:limit]
    last = events[-1] if more else None
    next_cursor = _encode_cursor(last.created_at.isoformat(), str(last.id)) if last else None
    return AuditPage(events, next_cursor)


def _decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    created, event_id = _split_cursor(cursor, 2)
    try:
        return dt.datetime.fromisoformat(created), uuid.UUID(event_id)
    except ValueError:
        raise InvalidRequest("malformed cursor", code="INVALID_CURSOR") from None


__all__ = ["MAX_PAGE", "AuditPage", "actor_of", "list_events", "record"]
