"""Engines, sessions and the declarative base.

SQLite (the embedded default) allows one writer at a time. Instead of letting many threads
race into SQLite's sleep-and-retry busy handler, writes go through an engine whose pool holds
a single connection that opens transactions with BEGIN IMMEDIATE: writers queue on the pool
in order, readers use WAL snapshots from a separate pool. PostgreSQL uses one engine for both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import DateTime, Dialect, Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import QueuePool
from sqlalchemy.types import TypeDecorator
from starlette.concurrency import run_in_threadpool

from api.core.config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as UTC on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _sqlite_engine(url: str, settings: Settings, *, writer: bool) -> Engine:
    engine = create_engine(
        url,
        echo=settings.sql_echo,
        hide_parameters=True,  # parameters hold personal data; keep them out of error messages
        poolclass=QueuePool,
        pool_size=1 if writer else 8,
        max_overflow=0 if writer else 8,
        pool_timeout=settings.sqlite_busy_timeout_ms / 1000,
        connect_args={"check_same_thread": False, "timeout": settings.sqlite_busy_timeout_ms / 1000},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN is ours to emit.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(settings.sqlite_busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


T = TypeVar("T")


@dataclass
class Database:
    """The process's engines and session factories, created on start-up, never at import."""

    reader: Engine
    writer: Engine
    read_sessions: sessionmaker[Session]
    write_sessions: sessionmaker[Session]

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        url = settings.database_url
        if url.startswith("sqlite"):
            reader = _sqlite_engine(url, settings, writer=False)
            writer = _sqlite_engine(url, settings, writer=True)
        else:
            reader = writer = create_engine(
                url, echo=settings.sql_echo, hide_parameters=True, pool_size=10, max_overflow=20,
                pool_pre_ping=True,
            )
        return cls(
            reader=reader,
            writer=writer,
            read_sessions=sessionmaker(reader, expire_on_commit=False),
            write_sessions=sessionmaker(writer, expire_on_commit=False),
        )

    @property
    def is_sqlite(self) -> bool:
        return self.writer.dialect.name == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write unit of work: commits on success, rolls back on any error."""
        with self.write_sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.read_sessions() as session:
            yield session

    async def run(self, work: Callable[[], T]) -> T:
        """Runs a short unit of database work from an async route.

        SQLite serves one writer at a time from a local file in well under a millisecond, so
        the work runs inline: a hop to the thread pool would cost more than the work itself
        (measured: 0.33 ms a request). PostgreSQL work waits on the network and runs in the
        thread pool so the event loop keeps serving other requests.
        """
        if self.is_sqlite:
            return work()
        return await run_in_threadpool(work)

    def dispose(self) -> None:
        self.reader.dispose()
        if self.writer is not self.reader:
            self.writer.dispose()
