"""Counting without reading: one INSERT … ON CONFLICT DO UPDATE, so concurrent events are all counted
(SQLite and PostgreSQL both speak it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session


def increment(db: Session, model: Any, keys: dict[str, Any], by: int = 1) -> None:
    """Adds `by` to `model.count` for the row with `keys` (its unique constraint), creating it at `by`."""
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(model).values(**keys, count=by)
    db.execute(statement.on_conflict_do_update(index_elements=list(keys), set_={"count": model.count + by}))
