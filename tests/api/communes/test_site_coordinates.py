"""Sites have a position staff set; a resident's shared location gets the nearest sites and their next
sessions (POST /sites/nearest, the gateway's internal token), and the location is kept nowhere."""

from __future__ import annotations

import json
import math
import struct
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from api.communes import router as communes_router
from api.communes.service import distance_km
from api.core.config import get_settings
from api.core.db import Database, utcnow
from api.demo import COMMUNES, HOSPITAL_POSITION, POSITIONS, seed_demo
from api.models import Base
from api.sessions.models import ExamSession
from common.keys import internal_token
from tests.support.env import TEST_SECRET
from tests.support.world import World, booked, person

NEAREST = "/api/v1/sites/nearest"
GATEWAY = {"X-Internal-Token": internal_token(TEST_SECRET.encode())}
# Hữu Liên, Lạng Sơn: the query point of most tests.
HERE = (21.70, 106.35)


def nearest(client: TestClient, latitude: Any, longitude: Any, **extra: Any) -> Any:
    return client.post(NEAREST, headers=GATEWAY, json={"latitude": latitude, "longitude": longitude, **extra})


def placed_site(client: TestClient, world: World, commune_id: int, latitude: float, longitude: float) -> dict[str, Any]:
    site = world.site(commune_id)
    moved = client.patch(f"/api/v1/sites/{site['id']}", headers=world.admin,
                         json={"latitude": latitude, "longitude": longitude})
    assert moved.status_code == 200, moved.text
    return dict(moved.json())


# --- staff set the position ---

def test_admins_and_the_communes_station_set_and_clear_a_sites_position(
        client: TestClient, world: World, staff_token: Any, database: Database) -> None:
    commune, elsewhere = world.commune("Hữu Liên"), world.commune("Thiện Tân")
    site = world.site(commune["id"])
    assert (site["latitude"], site["longitude"]) == (None, None)
    url = f"/api/v1/sites/{site['id']}"

    by_admin = client.patch(url, headers=world.admin, json={"latitude": 21.7, "longitude": 106.35})
    assert by_admin.status_code == 200 and (by_admin.json()["latitude"], by_admin.json()["longitude"]) == (21.7, 106.35)
    station = staff_token("station", commune_id=commune["id"])
    by_station = client.patch(url, headers=station, json={"latitude": 21.7012, "longitude": 106.3521})
    assert by_station.status_code == 200
    assert client.get(url).json()["latitude"] == 21.7012
    # Other fields still work alone, and leave the position as it is.
    renamed = client.patch(url, headers=station, json={"name": "Trạm Y tế xã Hữu Liên"}).json()
    assert (renamed["name"], renamed["latitude"]) == ("Trạm Y tế xã Hữu Liên", 21.7012)

    for refused, code in ((staff_token("station", commune_id=elsewhere["id"]), "forbidden"),
                          (staff_token("editor"), "forbidden"), (staff_token("cadre"), "forbidden"),
                          ({"Authorization": "Bearer not-a-token"}, "not_authenticated")):
        answer = client.patch(url, headers=refused, json={"latitude": 10.0, "longitude": 106.0})
        assert answer.status_code in (401, 403) and answer.json()["code"] == code, answer.text
    assert client.get(url).json()["latitude"] == 21.7012

    cleared = client.patch(url, headers=station, json={"latitude": None, "longitude": None}).json()
    assert (cleared["latitude"], cleared["longitude"]) == (None, None)

    with database.read() as db:
        rows = db.execute(text("SELECT detail FROM audit_log WHERE action = 'site.update' ORDER BY id")).scalars().all()
    details = [json.loads(r) if isinstance(r, str) else r for r in rows]
    assert [d["fields"] for d in details] == [["latitude", "longitude"], ["latitude", "longitude"], ["name"],
                                             ["latitude", "longitude"]]
    assert details[1]["position_before"] == [21.7, 106.35] and details[3]["position_after"] == [None, None]


def test_a_site_can_be_created_with_its_position(client: TestClient, world: World) -> None:
    commune = world.commune()
    body = {"commune_id": commune["id"], "name": "Điểm khám thôn Lân Châu", "kind": "mobile"}
    made = client.post("/api/v1/sites", headers=world.admin, json={**body, "latitude": 21.728, "longitude": 106.37})
    assert made.status_code == 201 and made.json()["longitude"] == 106.37
    half = client.post("/api/v1/sites", headers=world.admin, json={**body, "latitude": 21.728})
    assert half.status_code == 422 and half.json()["code"] == "coordinates_incomplete"


BAD_POSITIONS = [  # (raw JSON body, the field type reported)
    ('{"latitude": 90.5, "longitude": 106.35}', "less_than_equal"),
    ('{"latitude": -91, "longitude": 106.35}', "greater_than_equal"),
    ('{"latitude": 21.7, "longitude": 180.01}', "less_than_equal"),
    ('{"latitude": 21.7, "longitude": -200}', "greater_than_equal"),
    ('{"latitude": NaN, "longitude": 106.35}', "finite_number"),
    ('{"latitude": 21.7, "longitude": Infinity}', "finite_number"),
    ('{"latitude": "21.7", "longitude": 106.35}', "float_type"),
    ('{"latitude": "Hữu Liên", "longitude": 106.35}', "float_type"),
    ('{"latitude": true, "longitude": 106.35}', "float_type"),
    ('{"latitude": [21.7], "longitude": 106.35}', "float_type"),
]


@pytest.mark.parametrize(("body", "kind"), BAD_POSITIONS)
def test_bad_positions_are_a_422_with_a_stable_code(
        client: TestClient, world: World, body: str, kind: str) -> None:
    site = placed_site(client, world, world.commune()["id"], *HERE)
    for url, headers in ((f"/api/v1/sites/{site['id']}", world.admin), (NEAREST, GATEWAY)):
        answer = client.request("POST" if url == NEAREST else "PATCH", url, content=body,
                                headers={**headers, "content-type": "application/json"})
        assert answer.status_code == 422, (url, answer.text)
        assert answer.json()["code"] == "validation_error"
        assert kind in [f["type"] for f in answer.json()["details"]["fields"]]
    assert (client.get(f"/api/v1/sites/{site['id']}").json()["latitude"], site["latitude"]) == (HERE[0], HERE[0])


@pytest.mark.parametrize("body", [{"latitude": 21.7}, {"longitude": 106.35}, {"latitude": None, "longitude": 106.35},
                                  {"latitude": 21.7, "longitude": None}])
def test_half_a_position_is_refused(client: TestClient, world: World, body: dict[str, Any]) -> None:
    site = placed_site(client, world, world.commune()["id"], *HERE)
    patched = client.patch(f"/api/v1/sites/{site['id']}", headers=world.admin, json=body)
    assert patched.status_code == 422 and patched.json()["code"] == "coordinates_incomplete"
    asked = client.post(NEAREST, headers=GATEWAY, json=body)
    assert asked.status_code == 422 and asked.json()["code"] == "validation_error"
    assert client.get(f"/api/v1/sites/{site['id']}").json()["longitude"] == HERE[1]


@pytest.mark.parametrize("limit", [0, 6, -1, 2.5, "3", True, None])
def test_the_limit_is_one_to_five(client: TestClient, limit: Any) -> None:
    answer = nearest(client, *HERE, limit=limit)
    assert answer.status_code == 422 and answer.json()["code"] == "validation_error"


# --- the nearest sites ---

def test_only_the_gateway_may_ask(client: TestClient, staff_token: Any) -> None:
    body = {"latitude": HERE[0], "longitude": HERE[1]}
    # The test client carries the action server's service credential: that is not the gateway either.
    for headers in ({}, {"X-Internal-Token": ""}, {"X-Internal-Token": "0" * 64},
                    {"X-Internal-Token": GATEWAY["X-Internal-Token"][:-1]}, staff_token("admin")):
        answer = client.post(NEAREST, headers=headers, json=body)
        assert answer.status_code == 401 and answer.json()["code"] == "not_authenticated", headers
    assert client.post(NEAREST, headers=GATEWAY, json=body).status_code == 200


def test_nearest_first_with_distances_and_nothing_past_50_km(client: TestClient, world: World) -> None:
    commune = world.commune("Hữu Liên")
    lat, lon = HERE
    # Due north or south the distance is the arc of the meridian: 111.195 km a degree.
    far = placed_site(client, world, commune["id"], lat - 0.3, lon)  # 33.4 km
    near = placed_site(client, world, commune["id"], lat + 0.1, lon)  # 11.1 km
    east = placed_site(client, world, commune["id"], lat, lon + 0.1)  # 10.3 km: a degree east is shorter here
    middle = placed_site(client, world, commune["id"], lat + 0.2, lon)  # 22.2 km
    placed_site(client, world, commune["id"], lat + 0.45, lon)  # 50.04 km: just outside
    body = nearest(client, lat, lon, limit=5).json()
    assert [(s["site_id"], s["distance_km"]) for s in body["sites"]] == [
        (east["id"], 10.3), (near["id"], 11.1), (middle["id"], 22.2), (far["id"], 33.4)]
    first = body["sites"][0]
    assert set(first) == {"site_id", "name", "address", "phone", "commune_id", "commune_name", "distance_km",
                          "next_sessions"}
    assert (first["commune_id"], first["commune_name"], first["name"]) == (commune["id"], "Hữu Liên", "Trạm Y tế xã")
    # Three unless asked otherwise.
    assert [s["site_id"] for s in nearest(client, lat, lon).json()["sites"]] == [east["id"], near["id"], middle["id"]]
    assert [s["site_id"] for s in nearest(client, lat, lon, limit=1).json()["sites"]] == [east["id"]]
    # Ho Chi Minh City is some 1,200 km away: nothing, and the gateway says so.
    assert nearest(client, 10.7769, 106.7009).json() == {"sites": []}


def test_the_distance_is_the_great_circle() -> None:
    assert distance_km(0, 0, 1, 0) == pytest.approx(111.195, abs=0.001)
    assert distance_km(0, 179.5, 0, -179.5) == pytest.approx(111.195, abs=0.001)  # across the date line
    assert distance_km(90, 0, -90, 0) == pytest.approx(math.pi * 6371.0088)
    # Lạng Sơn's Tam Thanh ward to Hữu Liên, measured on a map: about 45 km.
    assert distance_km(21.8466, 106.7577, 21.70, 106.35) == pytest.approx(45.2, abs=0.3)


def test_sites_without_a_position_or_switched_off_are_never_offered(client: TestClient, world: World) -> None:
    commune = world.commune()
    unplaced = world.site(commune["id"])
    off = placed_site(client, world, commune["id"], *HERE)
    on = placed_site(client, world, commune["id"], HERE[0] + 0.01, HERE[1])
    assert client.patch(f"/api/v1/sites/{off['id']}", headers=world.admin, json={"active": False}).status_code == 200
    offered = [s["site_id"] for s in nearest(client, *HERE, limit=5).json()["sites"]]
    assert offered == [on["id"]] and unplaced["id"] not in offered


def test_each_site_comes_with_its_next_three_open_sessions_and_seats_left(
        client: TestClient, world: World, database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    commune = world.commune()
    site = placed_site(client, world, commune["id"], *HERE)
    started = world.session(site["id"], capacity=5, days=1)
    cancelled = world.session(site["id"], capacity=5, days=2)
    soon = world.session(site["id"], capacity=3, days=3)
    later = [world.session(site["id"], capacity=4, days=d) for d in (4, 5, 6)]
    assert client.patch(f"/api/v1/sessions/{cancelled['id']}", headers=world.admin,
                        json={"status": "cancelled"}).status_code == 200
    with database.write() as db:  # this one began an hour ago
        exam = db.get(ExamSession, started["id"])
        assert exam is not None
        exam.starts_at, exam.ends_at = utcnow() - timedelta(hours=1), utcnow() + timedelta(hours=2)
    for _ in range(2):
        booked(client, soon["id"], person(commune["id"]))

    sessions = nearest(client, *HERE).json()["sites"][0]["next_sessions"]
    assert [s["session_id"] for s in sessions] == [soon["id"], later[0]["id"], later[1]["id"]]
    assert [s["seats_left"] for s in sessions] == [1, 4, 4]
    assert sessions[0]["starts_at"] == soon["starts_at"] and sessions[0]["ends_at"] == soon["ends_at"]
    assert sessions[0]["starts_at"].endswith("+07:00")
    assert set(sessions[0]) == {"session_id", "starts_at", "ends_at", "seats_left"}

    # The clock decides what is "next": a minute after the fourth day's session began, two remain.
    moment = datetime.fromisoformat(later[0]["starts_at"]) + timedelta(minutes=1)
    monkeypatch.setattr(communes_router, "utcnow", lambda: moment)
    sessions = nearest(client, *HERE).json()["sites"][0]["next_sessions"]
    assert [s["session_id"] for s in sessions] == [later[1]["id"], later[2]["id"]]


def test_a_shared_location_leaves_no_trace(
        client: TestClient, world: World, database: Database, settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    site = placed_site(client, world, world.commune()["id"], *HERE)
    world.session(site["id"])
    # A position no site has, to tell the resident's apart from the sites' own.
    latitude, longitude = 21.70417, 106.35293
    answer = nearest(client, latitude, longitude)
    assert answer.status_code == 200 and answer.json()["sites"][0]["site_id"] == site["id"]
    assert nearest(client, latitude, 1000).status_code == 422  # a refusal does not echo it either
    assert "21.70417" not in answer.text and "106.35293" not in answer.text

    assert "21.70417" not in caplog.text and "106.35293" not in caplog.text
    with database.read() as db:
        for table in Base.metadata.sorted_tables:
            rows = db.execute(select(table)).all()
            assert "21.70417" not in repr(rows) and "106.35293" not in repr(rows), table.name
    url = settings.database_url
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        stored = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        for value in (latitude, longitude):
            # as text, and as SQLite stores a REAL (8 bytes, big-endian) or anyone might pack it
            for needle in (str(value).encode(), struct.pack(">d", value), struct.pack("<d", value)):
                assert needle not in stored


# --- the demo province ---

def test_every_demo_site_has_a_plausible_position() -> None:
    assert {code for code, *_ in COMMUNES} == set(POSITIONS)
    for code, _name, _kind, stop in COMMUNES:
        station, stop_at = POSITIONS[code]
        assert (stop_at is None) == (stop is None), code
        for lat, lon in [station, HOSPITAL_POSITION, *([stop_at] if stop_at else [])]:
            # Lạng Sơn lies within about 21.3–22.5 N, 106.0–107.4 E.
            assert 21.3 <= lat <= 22.5 and 106.0 <= lon <= 107.4, code
        if stop_at:
            assert distance_km(*station, *stop_at) < 10, code  # a hamlet of the commune
    assert distance_km(*POSITIONS["DEMO-20-009"][0], 21.70, 106.35) < 3  # Hữu Liên


def test_the_demo_answers_a_location_in_huu_lien_with_its_own_station(
        client: TestClient, database: Database, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # seed_demo encrypts with get_settings()'s key: make it this test's, never the developer's.
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    try:
        seed_demo(database, weeks=2)
    finally:
        get_settings.cache_clear()
    sites = nearest(client, 21.7042, 106.3517, limit=5).json()["sites"]
    assert [s["name"] for s in sites[:2]] == ["Trạm Y tế xã Hữu Liên", "Đội khám lưu động — Nhà văn hóa thôn Lân Châu"]
    distances = [s["distance_km"] for s in sites]
    assert distances == sorted(distances) and distances[0] < 1 and distances[-1] <= 50
    assert any(s["next_sessions"] for s in sites)
    # From the provincial town, its wards' stations and the hospital, all within a few km.
    town = nearest(client, 21.8466, 106.7577, limit=5).json()["sites"]
    assert town[0]["name"] == "Trạm Y tế phường Tam Thanh" and all(s["distance_km"] < 5 for s in town)
