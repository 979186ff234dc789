"""The audit log: every action worth checking afterwards, written by the service that performs it.

Entries are only ever appended. (Issue 6 adds the hash chain and its verification.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from vigil.store.db import Database
from vigil.store.models import AuditEvent


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    source: str
    details: dict[str, Any]


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self,
        actor: str,
        action: str,
        *,
        object_type: str = "",
        object_id: str = "",
        source: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        with self.db.session() as session:
            session.add(
                AuditEvent(
                    actor=actor,
                    action=action,
                    object_type=object_type,
                    object_id=object_id,
                    source=source[:64],
                    details=details or {},
                )
            )

    def entries(self, *, limit: int = 200, action: str | None = None) -> list[AuditEntry]:
        """Newest first."""
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(max(1, min(limit, 5000)))
        if action:
            query = query.where(AuditEvent.action == action)
        with self.db.session() as session:
            return [
                AuditEntry(e.id, e.at, e.actor, e.action, e.object_type, e.object_id, e.source, dict(e.details))
                for e in session.scalars(query)
            ]
