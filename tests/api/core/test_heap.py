"""`python -m api serve` freezes the API's start-up heap once it is up (common/heap.py); the apps tests
build do not (a test process that froze at every app would never collect its garbage)."""

from __future__ import annotations

import gc
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from uvicorn.importer import import_from_string

from api import __main__ as cli
from api import main
from api.core.config import Settings
from api.core.db import Database


@pytest.mark.usefixtures("unfrozen_heap")
def test_the_served_api_freezes_its_start_up_heap_and_a_tests_app_does_not(settings: Settings,
                                                                             database: Database) -> None:
    with TestClient(main.create_app(settings, database)) as client:
        assert client.get("/api/v1/health").status_code == 200
        assert gc.get_freeze_count() == 0

    with TestClient(main.create_app(settings, database, freeze_heap=True)) as client:
        assert client.get("/api/v1/health").status_code == 200
        assert gc.get_freeze_count() > 1000


def test_python_m_api_serve_runs_the_app_that_freezes(monkeypatch: pytest.MonkeyPatch) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(app=app, **options))
    built: list[dict[str, Any]] = []
    monkeypatch.setattr(main, "create_app", lambda *args, **options: built.append(options))

    assert cli.main(["serve", "--port", "8123"]) == 0

    assert served["factory"] is True and served["port"] == 8123
    import_from_string(served["app"])()
    assert built == [{"freeze_heap": True}]
