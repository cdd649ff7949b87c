from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from api.bookings.models import Booking
from api.core.db import Database
from tests.support.world import World, book, person

URL = "/api/v1/bookings"


def test_booking_is_confirmed_and_readable_by_code(client: TestClient, place: dict[str, Any]) -> None:
    resident = person(place["commune"]["id"])
    resident["full_name"] = "  nông   thị MAI "
    resident["phone"] = "+84 912.345.678"
    response = book(client, place["session"]["id"], resident)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "confirmed"
    assert body["session"]["booked"] == 1 and body["session"]["available"] == 1
    assert body["resident"] == {"full_name": "Nông Thị Mai", "phone_masked": "•••••••678"}
    assert len(body["code"]) == 8
    # Codes are accepted the way people type them.
    messy = body["code"].lower()[:4] + "-" + body["code"].lower()[4:]
    fetched = client.get(f"{URL}/{messy}")
    assert fetched.status_code == 200
    assert fetched.json()["code"] == body["code"]


def test_full_session_waitlists_and_cancel_promotes_first(client: TestClient, place: dict[str, Any]) -> None:
    sid, cid = place["session"]["id"], place["commune"]["id"]
    first, second = (book(client, sid, person(cid)).json() for _ in range(2))
    waiting = [book(client, sid, person(cid)).json() for _ in range(2)]
    assert [w["status"] for w in waiting] == ["waitlisted", "waitlisted"]
    assert [w["waitlist_position"] for w in waiting] == [1, 2]

    cancelled = client.post(f"{URL}/{first['code']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert client.get(f"{URL}/{waiting[0]['code']}").json()["status"] == "confirmed"
    later = client.get(f"{URL}/{waiting[1]['code']}").json()
    assert later["status"] == "waitlisted" and later["waitlist_position"] == 1
    session = client.get(f"/api/v1/sessions/{sid}").json()
    assert (session["booked"], session["waitlisted"]) == (2, 1)

    # Leaving the waitlist frees nothing and keeps the count right.
    assert client.post(f"{URL}/{later['code']}/cancel").status_code == 200
    session = client.get(f"/api/v1/sessions/{sid}").json()
    assert (session["booked"], session["waitlisted"]) == (2, 0)
    again = client.post(f"{URL}/{first['code']}/cancel")
    assert again.status_code == 409 and again.json()["code"] == "booking_not_active"
    assert second["status"] == "confirmed"


def test_idempotency_key_replays_the_same_booking(client: TestClient, place: dict[str, Any]) -> None:
    resident = person(place["commune"]["id"])
    first = book(client, place["session"]["id"], resident, key="retry-key-0001")
    replay = book(client, place["session"]["id"], resident, key="retry-key-0001")
    assert first.status_code == replay.status_code == 201
    assert replay.json()["code"] == first.json()["code"]
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert client.get(f"/api/v1/sessions/{place['session']['id']}").json()["booked"] == 1

    other = book(client, place["session"]["id"], person(place["commune"]["id"]), key="retry-key-0001")
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    short = book(client, place["session"]["id"], resident, key="short")
    assert short.status_code == 422 and short.json()["code"] == "invalid_idempotency_key"


def test_one_active_booking_per_resident(client: TestClient, world: World, place: dict[str, Any]) -> None:
    resident = person(place["commune"]["id"])
    other_session = world.session(place["site"]["id"], days=5)
    assert book(client, place["session"]["id"], resident).status_code == 201
    again = book(client, other_session["id"], resident)
    assert again.status_code == 409 and again.json()["code"] == "active_booking_exists"
    assert "message" in again.json()


def test_cancelled_resident_can_book_again_and_a_differing_birth_date_goes_to_the_station(
    client: TestClient, place: dict[str, Any], database: Database
) -> None:
    resident = person(place["commune"]["id"])
    code = book(client, place["session"]["id"], resident).json()["code"]
    client.post(f"{URL}/{code}/cancel")
    assert book(client, place["session"]["id"], resident).status_code == 201

    # Refusing would tell a guesser the date was wrong and let a first booker lock the owner out:
    # it is booked under a claim of its own, and the station is asked to check the card.
    impostor = dict(resident, birth_date="1958-04-06", phone="0977000111")
    response = book(client, place["session"]["id"], impostor)
    assert response.status_code == 201, response.text
    with database.read() as db:
        assert db.scalars(select(Booking.disputed).where(Booking.status == "confirmed")).all() == [True, True]


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("cccd", "12345", "invalid_cccd"),
        ("cccd", "02015800123a", "invalid_cccd"),
        ("cccd", "000158001234", "invalid_cccd"),
        ("cccd", "003258001234", "cccd_birth_date_mismatch"),  # century digit says 2000s
        ("cccd", "003159001234", "cccd_birth_date_mismatch"),  # year digits say 1959
        ("phone", "0123456789", "invalid_phone"),
        ("phone", "091234567", "invalid_phone"),
        ("full_name", "Nguyễn 123", "invalid_name"),
        ("birth_date", "2099-01-01", "invalid_birth_date"),
    ],
)
def test_bad_resident_details_are_4xx_with_stable_codes(
    client: TestClient, place: dict[str, Any], field: str, value: str, code: str
) -> None:
    resident = person(place["commune"]["id"], index=1)
    resident[field] = value
    if field == "birth_date":
        resident["cccd"] = "003099000001"
    response = book(client, place["session"]["id"], resident)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert client.get(f"/api/v1/sessions/{place['session']['id']}").json()["booked"] == 0


def test_unknown_session_and_commune(client: TestClient, place: dict[str, Any]) -> None:
    response = book(client, 999_999, person(place["commune"]["id"]))
    assert response.status_code == 404 and response.json()["code"] == "session_not_found"
    response = book(client, place["session"]["id"], person(999_999))
    assert response.status_code == 404 and response.json()["code"] == "commune_not_found"
    assert client.get(f"{URL}/AAAAAAAA").json()["code"] == "booking_not_found"


def test_past_or_cancelled_sessions_take_no_bookings(
    client: TestClient, world: World, place: dict[str, Any], staff_token: Any
) -> None:
    past = world.session(place["site"]["id"], days=-2)
    response = book(client, past["id"], person(place["commune"]["id"]))
    assert response.status_code == 409 and response.json()["code"] == "session_closed"
    client.patch(f"/api/v1/sessions/{place['session']['id']}", json={"status": "cancelled"},
                 headers=staff_token("station", commune_id=place["commune"]["id"]))
    response = book(client, place["session"]["id"], person(place["commune"]["id"]))
    assert response.status_code == 409 and response.json()["code"] == "session_closed"


def test_reschedule_moves_seat_and_keeps_old_one_when_target_full(
    client: TestClient, world: World, place: dict[str, Any]
) -> None:
    cid, old = place["commune"]["id"], place["session"]["id"]
    target = world.session(place["site"]["id"], capacity=1, days=6)
    mine = book(client, old, person(cid)).json()
    waiting_old = [book(client, old, person(cid)).json() for _ in range(2)][1]
    assert waiting_old["status"] == "waitlisted"

    moved = client.post(f"{URL}/{mine['code']}/reschedule", json={"session_id": target["id"]})
    assert moved.status_code == 200, moved.text
    assert moved.json()["session_id"] == target["id"] and moved.json()["status"] == "confirmed"
    # The freed seat went to the first person waiting in the old session.
    assert client.get(f"{URL}/{waiting_old['code']}").json()["status"] == "confirmed"

    someone = book(client, old, person(cid)).json()
    assert someone["status"] == "waitlisted"
    full = client.post(f"{URL}/{waiting_old['code']}/reschedule", json={"session_id": target["id"]})
    assert full.status_code == 409 and full.json()["code"] == "session_full"
    kept = client.get(f"{URL}/{waiting_old['code']}").json()
    assert kept["session_id"] == old and kept["status"] == "confirmed"
    same = client.post(f"{URL}/{mine['code']}/reschedule", json={"session_id": target["id"]})
    assert same.status_code == 409 and same.json()["code"] == "same_session"
    counts = [client.get(f"/api/v1/sessions/{s}").json() for s in (old, target["id"])]
    assert [(c["booked"], c["waitlisted"]) for c in counts] == [(2, 1), (1, 0)]


def test_waitlisted_booking_rescheduled_into_free_session(
    client: TestClient, world: World, place: dict[str, Any]
) -> None:
    cid, old = place["commune"]["id"], place["session"]["id"]
    for _ in range(2):
        book(client, old, person(cid))
    waiting = book(client, old, person(cid)).json()
    target = world.session(place["site"]["id"], capacity=5, days=8)
    moved = client.post(f"{URL}/{waiting['code']}/reschedule", json={"session_id": target["id"]}).json()
    assert moved["status"] == "confirmed"
    assert client.get(f"/api/v1/sessions/{old}").json()["waitlisted"] == 0


def test_attendance_is_for_station_staff_and_audited(
    client: TestClient, place: dict[str, Any], staff_token: Any, database: Database
) -> None:
    code = book(client, place["session"]["id"], person(place["commune"]["id"])).json()["code"]
    url = f"{URL}/{code}/attendance"
    assert client.post(url, json={"attended": True}).status_code == 401
    assert client.post(url, json={"attended": True}, headers=staff_token("cadre")).status_code == 403
    station = staff_token("station", commune_id=place["commune"]["id"])
    response = client.post(url, json={"attended": True}, headers=station)
    assert response.status_code == 200 and response.json()["status"] == "attended"
    with database.read() as db:
        actions = db.execute(text("SELECT action FROM audit_log")).scalars().all()
    assert "booking.attendance" in actions
