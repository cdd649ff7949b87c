"""Schemathesis generates requests from our OpenAPI spec, valid and invalid: none may be a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.conftest import World, person

pytestmark = pytest.mark.slow


def test_no_server_errors_on_any_operation(client: TestClient, world: World) -> None:
    # Some real rows so generated ids and codes sometimes hit existing data.
    commune = world.commune()
    session = world.session(world.site(commune["id"])["id"], capacity=3)
    client.post("/api/v1/bookings", json={"session_id": session["id"], "resident": person(commune["id"])})
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            case.call_and_validate(checks=[not_a_server_error], headers=world.admin)

        check()
