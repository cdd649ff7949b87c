"""Hand-written SQL run straight on the DBAPI cursor, inside the SQLAlchemy transaction.

Only for the few fixed statements of the booking hot path. Measured on this machine, SQLAlchemy
spends about 60 µs preparing and dispatching each Core statement against 3 µs for SQLite to run
it; a booking runs eight of them, which capped a burst at about 500 bookings/s. The SQL here
is plain and portable (SQLite ≥ 3.35 and PostgreSQL both accept RETURNING); values that need
conversion (timestamps) go through the same SQLAlchemy type processors the ORM uses, so rows
written here read back identically everywhere else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Dialect
from sqlalchemy.exc import DBAPIError

from api.core.db import UTCDateTime

_NAMED = re.compile(r"(?<![:\w]):(\w+)")


@cache
def _pyformat(sql: str) -> str:
    """':name' (sqlite3's named style) -> '%(name)s' (psycopg's)."""
    return _NAMED.sub(r"%(\1)s", sql)


@cache
def _timestamp_binder(dialect_name: str, dialect: Dialect) -> Callable[[datetime], Any]:
    process = UTCDateTime().bind_processor(dialect)
    return process if process is not None else (lambda value: value)


class Raw:
    def __init__(self, conn: Connection) -> None:
        self._cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        self._pyformat = conn.dialect.name != "sqlite"
        self._bind_ts = _timestamp_binder(conn.dialect.name, conn.dialect)
        self._driver_error = conn.dialect.loaded_dbapi.Error

    def row(self, sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        self._execute(sql, params)
        row: tuple[Any, ...] | None = self._cursor.fetchone()
        return row

    def run(self, sql: str, params: Mapping[str, Any]) -> None:
        self._execute(sql, params)

    def _execute(self, sql: str, params: Mapping[str, Any]) -> None:
        try:
            self._cursor.execute(_pyformat(sql) if self._pyformat else sql, params)
        except self._driver_error as error:
            # Re-raise as SQLAlchemy's IntegrityError, OperationalError…, exactly as a Core
            # statement would, so callers and error handlers see one exception tree.
            raise DBAPIError.instance(sql, None, error, self._driver_error) from error

    def timestamp(self, value: datetime) -> Any:
        return self._bind_ts(value)
