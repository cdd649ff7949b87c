"""Logging that never carries what residents type.

Query strings can hold free text (a FAQ question with a CCCD in it), so access-log lines keep the
path only. SQL parameters are kept out of exception messages by `hide_parameters` on the engines.
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any

from common.masking import mask_digit_runs

# A booking code opens a booking (with its second factor): logs keep that it was used, not which. The
# SMS provider's webhook carries its shared secret as the last path segment, and a recording invitation's
# link its secret after /studio/voice/: never logged either.
_SECRET_IN_PATH = re.compile(r"(/bookings/|/webhooks/sms/|/studio/voice/)[^/?]+")


def loggable_path(target: str) -> str:
    return _SECRET_IN_PATH.sub(r"\1***", target.split("?", 1)[0])


class DropQueryStrings(logging.Filter):
    """uvicorn.access records carry (client, method, path?query, http version, status): the query
    string goes, and booking codes in the path are masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, target, version, status = record.args
            record.args = (client, method, loggable_path(str(target)), version, status)
        return True


def install() -> None:
    # httpx logs every request's URL at INFO: a booking's QR image or a link holds a code.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, DropQueryStrings) for f in access.filters):
        access.addFilter(DropQueryStrings())


class JsonFormatter(logging.Formatter):
    """One JSON object per line for log collectors; digit runs (CCCDs, phones, dates) masked in case a
    message ever carries one."""

    def format(self, record: logging.LogRecord) -> str:
        message = mask_digit_runs(record.getMessage())
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                 "logger": record.name, "message": message}
        if record.exc_info:
            entry["error"] = record.exc_info[0].__name__ if record.exc_info[0] else "error"
        return json.dumps(entry, ensure_ascii=False)


def uvicorn_log_config() -> dict[str, Any] | None:
    """With LOG_FORMAT=json, uvicorn and the application log JSON lines; otherwise uvicorn's default."""
    if os.environ.get("LOG_FORMAT", "").lower() != "json":
        return None
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": "api.core.logs.JsonFormatter"}},
        "handlers": {"default": handler},
        "loggers": {"uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
                    "httpx": {"level": "WARNING"},
                    "uvicorn.access": {"handlers": ["default"], "level": "INFO", "propagate": False}},
        "root": {"handlers": ["default"], "level": "INFO"},
    }
