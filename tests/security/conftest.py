"""The security suite runs against the production limits (not the functional tests' loose ones)
and acts as an attacker would: through the API's real HTTP surface, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from api.core.config import Settings
from tests.support.env import FUNCTIONAL_LIMITS, make_settings


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    production: dict[str, Any] = {name: Settings.model_fields[name].default for name in FUNCTIONAL_LIMITS}
    return make_settings(db_url, tmp_path, **production)
