from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.core.db import Database
from api.staff.service import create_staff
from tests.support.world import World


def test_login_and_me(client: TestClient, database: Database, world: World) -> None:
    commune = world.commune()
    with database.write() as db:
        create_staff(db=db, actor=None, username="mai.tram", password="mat-khau-an-toan", role="station",
                     commune_id=commune["id"])
    bad = client.post("/api/v1/auth/token", data={"username": "mai.tram", "password": "sai"})
    assert bad.status_code == 401 and bad.json()["code"] == "invalid_credentials"
    nobody = client.post("/api/v1/auth/token", data={"username": "khong-co", "password": "sai-mat-khau"})
    assert nobody.status_code == 401 and nobody.json()["code"] == "invalid_credentials"
    token = client.post("/api/v1/auth/token", data={"username": "mai.tram", "password": "mat-khau-an-toan"})
    assert token.status_code == 200 and token.json()["role"] == "station"
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert me.json()["username"] == "mai.tram"
    forged = client.get("/api/v1/auth/me", headers={"Authorization": "Bearer abc.def.ghi"})
    assert forged.status_code == 401 and forged.json()["code"] == "not_authenticated"


def test_admin_manages_staff_and_deactivation_locks_out(client: TestClient, staff_token: Any) -> None:
    admin = staff_token("admin")
    created = client.post("/api/v1/staff", headers=admin, json={
        "username": "lan.hoi.phu.nu", "password": "mat-khau-123", "role": "cadre"})
    assert created.status_code == 201
    dup = client.post("/api/v1/staff", headers=admin, json={
        "username": "lan.hoi.phu.nu", "password": "mat-khau-123", "role": "cadre"})
    assert dup.status_code == 409 and dup.json()["code"] == "username_taken"
    token = client.post("/api/v1/auth/token", data={"username": "lan.hoi.phu.nu", "password": "mat-khau-123"})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert client.get("/api/v1/staff", headers=headers).status_code == 403
    client.patch(f"/api/v1/staff/{created.json()['id']}", headers=admin, json={"active": False})
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_malformed_json_is_400(client: TestClient) -> None:
    response = client.post("/api/v1/bookings", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"session_id": "abc", "resident": {}},
        {"session_id": 1, "resident": "x"},
        {"session_id": 1, "resident": {"full_name": 5, "birth_date": "05/03/1958", "cccd": [],
                                       "phone": None, "commune_id": "x"}},
        [],
        "text",
    ],
)
def test_wrong_shapes_are_422_in_vietnamese(client: TestClient, body: Any) -> None:
    response = client.post("/api/v1/bookings", json=body)
    assert response.status_code == 422
    payload = response.json()
    assert payload["code"] == "validation_error"
    assert payload["details"]["fields"]
    assert all(f["message"] for f in payload["details"]["fields"])


def test_huge_bodies_are_refused(client: TestClient) -> None:
    big = b'{"x": "' + b"a" * 200_000 + b'"}'
    response = client.post("/api/v1/bookings", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"

    def chunks() -> Any:
        for _ in range(100):
            yield b"a" * 10_000

    streamed = client.post("/api/v1/bookings", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


def test_unknown_routes_ids_and_methods(client: TestClient) -> None:
    assert client.get("/api/v1/khong-co").json()["code"] == "not_found"
    assert client.get("/api/v1/sessions/123456").json()["code"] == "session_not_found"
    assert client.get("/api/v1/sessions/abc").status_code == 422
    assert client.get("/api/v1/sessions/99999999999999999999999").status_code == 422
    assert client.delete("/api/v1/sessions").json()["code"] == "method_not_allowed"
    assert client.get("/api/v1/communes/0").status_code == 422
    assert client.get("/api/v1/communes/424242").json()["code"] == "commune_not_found"


def test_health_and_openapi(client: TestClient) -> None:
    assert client.get("/api/v1/health").json() == {"status": "ok"}
    assert client.get("/api/v1/ready").json() == {"status": "ready"}
    paths = client.get("/openapi.json").json()["paths"]
    for path in ["/api/v1/auth/token", "/api/v1/communes", "/api/v1/sessions", "/api/v1/bookings",
                 "/api/v1/bookings/{code}", "/api/v1/bookings/{code}/cancel",
                 "/api/v1/bookings/{code}/reschedule"]:
        assert path in paths


def test_access_log_lines_drop_query_strings() -> None:
    import logging

    from api.core.logs import DropQueryStrings

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", "/api/v1/faq/search?q=cccd+003158001234", "1.1", 200), None)
    assert DropQueryStrings().filter(record)
    assert "003158001234" not in record.getMessage()
    assert "/api/v1/faq/search" in record.getMessage()


def test_database_errors_do_not_carry_parameters(database: Database) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError) as caught, database.write() as db:
        db.execute(text("INSERT INTO provinces (code, name) VALUES (:c, :n)"), {"c": "77", "n": "Nông Thị Mai"})
        db.execute(text("INSERT INTO provinces (code, name) VALUES (:c, :n)"), {"c": "77", "n": "Nông Thị Mai"})
    assert "Nông Thị Mai" not in str(caught.value)


@pytest.mark.parametrize(("orig", "status"), [("database is locked", 503), ("no such table: faq_entries", 500)])
def test_only_real_contention_is_reported_as_busy(orig: str, status: int) -> None:
    import asyncio

    from sqlalchemy.exc import OperationalError
    from starlette.requests import Request

    from api.core.handlers import database_busy

    error = OperationalError("SELECT 1", None, Exception(orig))
    response = asyncio.run(database_busy(Request({"type": "http", "method": "GET", "path": "/"}), error))
    assert response.status_code == status
