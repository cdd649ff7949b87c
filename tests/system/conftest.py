"""Whole-system tests start the runtimes as real processes (tests/support/servers.py); those that drive
the web chat or the staff pages share one headless Chromium per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.browser import chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver
