from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.core.db import Database
from tests.support.world import World, future, person


@pytest.mark.parametrize("query", ["huu lien", "Hữu Liên", "HUU LIEN", "xa huu lien", "huulien", "lien"])
def test_commune_search_ignores_diacritics_case_and_unit_word(
    client: TestClient, world: World, query: str
) -> None:
    world.commune("Hữu Liên")
    world.commune("Hữu Lũng")
    world.commune("Tam Thanh", kind="phuong")
    items = client.get("/api/v1/communes", params={"q": query}).json()["items"]
    assert items[0]["name"] == "Hữu Liên"
    assert items[0]["full_name"] == "xã Hữu Liên"
    assert all(item["name"] != "Tam Thanh" for item in items)


def test_commune_search_ranks_exact_before_partial(client: TestClient, world: World) -> None:
    world.commune("Hữu Kiên")
    world.commune("Kiên Mộc")
    world.commune("Kiên")
    names = [c["name"] for c in client.get("/api/v1/communes", params={"q": "kien"}).json()["items"]]
    assert names == ["Kiên", "Kiên Mộc", "Hữu Kiên"]
    assert client.get("/api/v1/communes", params={"q": "huu kien"}).json()["items"][0]["name"] == "Hữu Kiên"
    assert client.get("/api/v1/communes", params={"q": "zzz"}).json()["items"] == []


def test_creating_places_needs_the_right_role(client: TestClient, world: World, staff_token: Any) -> None:
    body = {"province_code": "20", "province_name": "Lạng Sơn", "code": "X1", "name": "Mẫu Sơn"}
    assert client.post("/api/v1/communes", json=body).status_code == 401
    station = staff_token("station", commune_id=world.commune()["id"])
    denied = client.post("/api/v1/communes", json=body, headers=station)
    assert denied.status_code == 403 and denied.json()["code"] == "forbidden"
    admin = staff_token("admin")
    assert client.post("/api/v1/communes", json=body, headers=admin).status_code == 201
    again = client.post("/api/v1/communes", json=body, headers=admin)
    assert again.status_code == 409 and again.json()["code"] == "commune_code_taken"


def test_station_staff_manage_only_their_commune(client: TestClient, world: World, staff_token: Any) -> None:
    mine, other = world.commune("Mẫu Sơn"), world.commune("Đồng Đăng")
    station = staff_token("station", commune_id=mine["id"])
    ok = client.post("/api/v1/sites", headers=station,
                     json={"commune_id": mine["id"], "name": "Điểm khám thôn Khuổi Cáp", "kind": "mobile"})
    assert ok.status_code == 201
    denied = client.post("/api/v1/sites", headers=station,
                         json={"commune_id": other["id"], "name": "Trạm", "kind": "station"})
    assert denied.status_code == 403
    other_site = world.site(other["id"])
    start = future(2)
    denied = client.post("/api/v1/sessions", headers=station, json={
        "site_id": other_site["id"], "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=2)).isoformat(), "capacity": 5})
    assert denied.status_code == 403


def test_sessions_list_filters_by_commune_and_dates(client: TestClient, world: World) -> None:
    a, b = world.commune("Mẫu Sơn"), world.commune("Đồng Đăng")
    site_a, site_b = world.site(a["id"]), world.site(b["id"])
    near = world.session(site_a["id"], days=2)
    far = world.session(site_a["id"], days=20)
    world.session(site_b["id"], days=2)
    items = client.get("/api/v1/sessions", params={"commune_id": a["id"]}).json()["items"]
    assert [s["id"] for s in items] == [near["id"], far["id"]]
    first = items[0]
    assert set(first) >= {"id", "starts_at", "ends_at", "site", "capacity", "booked", "available"}
    assert first["starts_at"].endswith("+07:00")
    day = future(2).date().isoformat()
    items = client.get("/api/v1/sessions", params={"commune_id": a["id"], "date_from": day,
                                                   "date_to": day}).json()["items"]
    assert [s["id"] for s in items] == [near["id"]]
    bad = client.get("/api/v1/sessions", params={"date_from": "2026-12-10", "date_to": "2026-12-01"})
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"


def test_session_times_are_checked(client: TestClient, world: World) -> None:
    site = world.site(world.commune()["id"])
    start = future(2)
    response = client.post("/api/v1/sessions", headers=world.admin, json={
        "site_id": site["id"], "starts_at": start.isoformat(), "ends_at": start.isoformat(), "capacity": 5})
    assert response.status_code == 422 and response.json()["code"] == "invalid_session_times"
    # A time without offset is Vietnam time, as staff mean it.
    naive = start.replace(tzinfo=None)
    response = client.post("/api/v1/sessions", headers=world.admin, json={
        "site_id": site["id"], "starts_at": naive.isoformat(),
        "ends_at": (naive + timedelta(hours=3)).isoformat(), "capacity": 5})
    assert response.status_code == 201
    assert response.json()["starts_at"] == start.isoformat()


def book_people(client: TestClient, session_id: int, commune_id: int, count: int) -> list[str]:
    """Books `count` different people into a session; returns their codes in booking order."""
    return [
        client.post("/api/v1/bookings", json={"session_id": session_id, "resident": person(commune_id)}).json()["code"]
        for _ in range(count)
    ]


def test_capacity_changes_respect_bookings_and_promote_waitlist(client: TestClient, world: World) -> None:
    commune = world.commune()
    session = world.session(world.site(commune["id"])["id"], capacity=1)
    codes = book_people(client, session["id"], commune["id"], 3)
    url = f"/api/v1/sessions/{session['id']}"
    low = client.patch(url, json={"capacity": 0}, headers=world.admin)
    assert low.status_code == 409 and low.json()["code"] == "capacity_below_booked"
    grown = client.patch(url, json={"capacity": 2}, headers=world.admin).json()
    assert (grown["booked"], grown["waitlisted"], grown["available"]) == (2, 1, 0)
    statuses = [client.get(f"/api/v1/bookings/{c}").json()["status"] for c in codes]
    assert statuses == ["confirmed", "confirmed", "waitlisted"]


def test_cancelling_a_session_cancels_its_bookings(client: TestClient, world: World) -> None:
    commune = world.commune()
    session = world.session(world.site(commune["id"])["id"], capacity=1)
    codes = book_people(client, session["id"], commune["id"], 2)
    done = client.patch(f"/api/v1/sessions/{session['id']}", json={"status": "cancelled"}, headers=world.admin)
    assert done.json()["status"] == "cancelled" and done.json()["available"] == 0
    assert {client.get(f"/api/v1/bookings/{c}").json()["status"] for c in codes} == {"cancelled"}
    listed = client.get("/api/v1/sessions", params={"commune_id": commune["id"]}).json()["items"]
    assert listed == []


def test_roster_masks_personal_data(client: TestClient, world: World, staff_token: Any) -> None:
    commune = world.commune()
    session = world.session(world.site(commune["id"])["id"], capacity=1)
    resident = person(commune["id"])
    for r in (resident, person(commune["id"])):
        client.post("/api/v1/bookings", json={"session_id": session["id"], "resident": r})
    url = f"/api/v1/sessions/{session['id']}/bookings"
    assert client.get(url, headers=staff_token("cadre")).status_code == 403
    roster = client.get(url, headers=staff_token("station", commune_id=commune["id"]))
    assert roster.status_code == 200
    entries = roster.json()["items"]
    assert [e["status"] for e in entries] == ["confirmed", "waitlisted"]
    assert entries[1]["waitlist_position"] == 1
    assert entries[0]["phone_masked"].endswith(resident["phone"][-3:])
    assert resident["phone"] not in roster.text and resident["cccd"] not in roster.text


def test_staff_writes_are_audited(client: TestClient, world: World, database: Database) -> None:
    commune = world.commune()
    site = world.site(commune["id"])
    session = world.session(site["id"])
    client.patch(f"/api/v1/sessions/{session['id']}", json={"note": "Mang theo thẻ BHYT"}, headers=world.admin)
    with database.read() as db:
        actions = db.execute(text("SELECT action FROM audit_log ORDER BY id")).scalars().all()
    assert actions[-4:] == ["commune.create", "site.create", "session.create", "session.update"]
    audit = client.get("/api/v1/audit", headers=world.admin).json()["items"]
    assert audit[0]["action"] == "session.update" and audit[0]["actor"].startswith("admin-")
