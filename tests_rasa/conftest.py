"""The action server's environment in every Rasa-side test: the service credential the fake API
(fake_api.py) expects, as scripts/run_all.py passes it."""

from __future__ import annotations

import pytest

from tests_rasa.fake_api import CREDENTIAL


@pytest.fixture(autouse=True)
def service_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_SERVICE_CREDENTIAL", CREDENTIAL)
