from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.orm import Session

from api.audit.models import AuditEntry


class Actor(Protocol):
    """Who an entry names: a staff account (api.staff.models.StaffUser), read for its id and username only."""

    @property
    def id(self) -> int: ...

    @property
    def username(self) -> str: ...


def record(
    db: Session, *, actor: Actor | None, action: str, entity: str, entity_id: object,
    actor_label: str | None = None, **detail: Any,
) -> None:
    """Add an audit entry to the caller's transaction: it is kept exactly when the change is.

    `actor_label` names an actor that is no account (a failed login is "anonymous", not "system")."""
    db.add(
        AuditEntry(
            actor_id=actor.id if actor else None,
            actor=actor_label or (actor.username if actor else "system"),
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            detail=detail,
        )
    )
