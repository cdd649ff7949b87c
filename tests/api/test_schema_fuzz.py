"""Schemathesis generates requests from our OpenAPI spec, valid and invalid: none may be a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.support.env import service_credential
from tests.support.world import World, person

pytestmark = pytest.mark.slow

# Operations our action server calls for residents: fuzzed with a service credential (and no chat),
# as an outside check would; everything else with an admin's token.
RESIDENT_PATHS = ("/api/v1/bookings", "/api/v1/records/status", "/api/v1/privacy/", "/api/v1/reminders/",
                  "/api/v1/announcements/", "/api/v1/faq/unanswered", "/api/v1/reports/scam", "/api/v1/audio/speech")


def test_no_server_errors_on_any_operation(client: TestClient, world: World, database: Any) -> None:
    # Some real rows so generated ids and codes sometimes hit existing data.
    commune = world.commune()
    session = world.session(world.site(commune["id"])["id"], capacity=3)
    client.post("/api/v1/bookings", json={"session_id": session["id"], "resident": person(commune["id"])})
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)

    service = {"Authorization": f"Bearer {service_credential(database, 'schemathesis')}", "X-Chat-Identity": ""}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        staff_only = operation.path.endswith(("/attendance", "/on-behalf"))
        resident = operation.path.startswith(RESIDENT_PATHS) and not staff_only and (
            operation.method.upper() == "POST" or operation.path.startswith("/api/v1/bookings/"))
        fuzz(operation, service if resident else world.admin)


def fuzz(operation: Any, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: Any) -> None:
        case.call_and_validate(checks=[not_a_server_error], headers=headers)

    check()
