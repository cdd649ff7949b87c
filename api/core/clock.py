"""Local time for a Vietnamese service: the API stores UTC and speaks Asia/Ho_Chi_Minh."""

from __future__ import annotations

from datetime import date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

from api.core.config import get_settings


@lru_cache
def local_tz() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def to_local(moment: datetime) -> datetime:
    return moment.astimezone(local_tz())


def assume_local(moment: datetime) -> datetime:
    """A datetime without an offset is read as Vietnam time, as staff would mean it."""
    return moment.replace(tzinfo=local_tz()) if moment.tzinfo is None else moment


def start_of_local_day(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=local_tz())


def local_today() -> date:
    return datetime.now(local_tz()).date()
