"""Fixtures the API's domain tests share (the database, client and staff fixtures are in tests/conftest.py,
which tests/security uses too)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.world import World


@pytest.fixture
def place_capacity() -> int:
    """Seats in the `place` session; a module that needs more overrides this fixture."""
    return 2


@pytest.fixture
def place(world: World, place_capacity: int) -> dict[str, Any]:
    """A commune with a station and one session there: {"commune", "site", "session"}."""
    return world.place(capacity=place_capacity)
