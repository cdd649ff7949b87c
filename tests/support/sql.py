"""What SQL a piece of code runs: for tests that say a path reads nothing, or only so much."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event


@contextmanager
def recorded_statements(*engines: Engine) -> Iterator[list[str]]:
    """Every SQL statement these engines run inside the block (an engine given twice is heard once:
    a PostgreSQL Database's reader and writer are one engine)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    distinct = list({id(engine): engine for engine in engines}.values())
    for engine in distinct:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in distinct:
            event.remove(engine, "before_cursor_execute", record)
