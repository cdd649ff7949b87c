"""Fixtures the API's domain tests share (the database, client and staff fixtures are in tests/conftest.py,
which tests/security uses too)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.world import World


@pytest.fixture
def place_capacity() -> int:
    """Seats in the `place` session; a module that needs more overrides this fixture."""
    return 2


@pytest.fixture
def place(world: World, place_capacity: int) -> dict[str, Any]:
    """A commune with a station and one session there: {"commune", "site", "session"}."""
    return world.place(capacity=place_capacity)


PublishMessage = Callable[[str, dict[str, str]], dict[str, Any]]


@pytest.fixture
def publish_message(client: TestClient, staff_token: Callable[..., dict[str, str]]) -> PublishMessage:
    """Publishes new wording of a message as staff do: one editor drafts and submits it, another
    publishes it (POST /api/v1/content/revisions…). Returns the published revision."""

    def publish(key: str, texts: dict[str, str]) -> dict[str, Any]:
        author, reviewer = staff_token("editor"), staff_token("editor")
        drafted = client.post("/api/v1/content/revisions", headers=author,
                              json={"kind": "message", "key": key, "payload": {"texts": texts}})
        assert drafted.status_code == 201, drafted.text
        revision = drafted.json()["id"]
        submitted = client.post(f"/api/v1/content/revisions/{revision}/submit", headers=author)
        assert submitted.status_code == 200, submitted.text
        published = client.post(f"/api/v1/content/revisions/{revision}/publish", headers=reviewer)
        assert published.status_code == 200, published.text
        body: dict[str, Any] = published.json()
        return body

    return publish
