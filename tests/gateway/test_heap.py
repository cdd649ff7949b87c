"""`python -m gateway` freezes the gateway's start-up heap once it is up (common/heap.py); the apps tests
build do not."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from uvicorn.importer import import_from_string

from gateway import __main__ as cli
from gateway import app as gateway_app
from gateway.config import GatewaySettings
from tests.support.fake_rasa import FakeRasa


@pytest.mark.usefixtures("unfrozen_heap")
def test_the_served_gateway_freezes_its_start_up_heap_and_a_tests_app_does_not(tmp_path: Path,
                                                                                 rasa: FakeRasa) -> None:
    settings = GatewaySettings(gateway_database_url=f"sqlite:///{tmp_path / 'gateway.db'}", rasa_retry_s=0.0)
    for freeze_heap in (False, True):
        app = gateway_app.create_app(settings, rasa_transport=httpx.MockTransport(rasa), freeze_heap=freeze_heap)
        with TestClient(app) as client:
            assert client.get("/health").status_code == 200
            assert (gc.get_freeze_count() > 1000) is freeze_heap


def test_python_m_gateway_runs_the_app_that_freezes(monkeypatch: pytest.MonkeyPatch) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(app=app, **options))
    built: list[dict[str, Any]] = []
    monkeypatch.setattr(gateway_app, "create_app", lambda *args, **options: built.append(options))

    assert cli.main(["--port", "8124"]) == 0

    assert served["factory"] is True and served["port"] == 8124
    import_from_string(served["app"])()
    assert built == [{"freeze_heap": True}]
