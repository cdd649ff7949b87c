"""What the local fakes of outside services (Telegram's Bot API, Zalo's OA API) share: a dataclass of
what the fake recorded and how it should answer, whose `app()` serves it over real HTTP in a
background thread; `base` is its URL while it runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from fastapi import FastAPI

from tests.support.servers import app_in_thread

F = TypeVar("F", bound="LocalFake")


@dataclass
class LocalFake:
    base: str = ""

    def app(self) -> FastAPI:
        raise NotImplementedError


@contextmanager
def serving(fake: F) -> Iterator[F]:
    """The fake served on a free local port (its `base` set) until the block ends."""
    with app_in_thread(fake.app()) as base:
        fake.base = base
        yield fake
