"""Logging that never carries what residents type.

Query strings can hold free text (a FAQ question with a CCCD in it), so access-log lines keep the
path only. SQL parameters are kept out of exception messages by `hide_parameters` on the engines.
"""

from __future__ import annotations

import logging


class DropQueryStrings(logging.Filter):
    """uvicorn.access records carry (client, method, path?query, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, target, version, status = record.args
            record.args = (client, method, str(target).split("?", 1)[0], version, status)
        return True


def install() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, DropQueryStrings) for f in access.filters):
        access.addFilter(DropQueryStrings())
