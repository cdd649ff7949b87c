"""Attacks on the resident endpoints, replayed through HTTP, and shown to fail.

Each test states what a script with no chat, no account and unlimited patience tried (issue 15)
and asserts the count of requests it gets before it is stopped."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.core.crypto import Crypto
from api.core.db import Database
from api.identity.service import claim_hash
from api.privacy.service import rotate_keys
from api.residents.models import Resident
from api.security.models import SecurityAlert
from common.chat_identity import HEADER, sign, verify
from common.keys import chat_identity_key
from tests.support.env import TEST_SECRET, chat_headers
from tests.support.world import World, person
from tests.support.world import book as post_booking

NOTICE = "2026-11"
RESIDENT_ENDPOINTS = [
    ("POST", "/api/v1/bookings"), ("GET", "/api/v1/bookings/KE3MX7PA"), ("POST", "/api/v1/bookings/KE3MX7PA/cancel"),
    ("POST", "/api/v1/records/status"), ("POST", "/api/v1/privacy/held-data"), ("POST", "/api/v1/privacy/erase"),
    ("POST", "/api/v1/privacy/withdraw"), ("POST", "/api/v1/reminders/subscribe"), ("POST", "/api/v1/faq/unanswered"),
    ("POST", "/api/v1/reports/scam"), ("POST", "/api/v1/audio/speech"),
]


def anonymous(client: TestClient, **headers: str) -> dict[str, str]:
    """Headers that replace the test client's credential and chat: what a stranger can send."""
    return {"Authorization": "", HEADER: "", **headers}


def book(client: TestClient, session_id: int, someone: dict[str, Any], chat: str = "test-chat", **extra: Any) -> Any:
    """A web chat's booking, with the notice its resident consented to."""
    return post_booking(client, session_id, someone, channel=extra.pop("channel", "web"), chat=chat,
                        consent_notice=NOTICE, **extra)


def wrong_tail(someone: dict[str, Any], index: int) -> str:
    """The index-th three digits that are not the end of this person's phone number."""
    return f"{(int(someone['phone'][-3:]) + 1 + index) % 1000:03d}"


def test_resident_endpoints_refuse_requests_without_a_service_credential(client: TestClient) -> None:
    for method, path in RESIDENT_ENDPOINTS:
        for headers in (anonymous(client), anonymous(client, Authorization="Bearer ksk_svc_" + "x" * 43),
                        anonymous(client, Authorization="Bearer not-a-token")):
            response = client.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["code"] in ("service_credential_required", "not_authenticated"), response.text


def test_forged_stale_or_tampered_chat_identities_are_refused(client: TestClient, world: World) -> None:
    spot = world.place(capacity=30)
    _commune, session = spot["commune"], spot["session"]
    someone = person(_commune["id"])
    forged = sign(b"k" * 32, channel="web", sender="x", now=time.time())
    stale = sign(chat_identity_key(TEST_SECRET.encode()), channel="web", sender="x", now=time.time() - 3600)
    payload, signature = chat_headers(sender="victim")[HEADER].split(".")
    tampered = chat_headers(sender="attacker")[HEADER].split(".")[0] + "." + signature
    for token in (forged, stale, tampered, payload, "garbage"):
        response = client.post("/api/v1/bookings", headers={HEADER: token},
                               json={"session_id": session["id"], "resident": someone, "consent_notice": NOTICE})
        assert response.status_code == 401 and response.json()["code"] == "invalid_chat_identity", response.text


def test_birth_date_oracle_wrong_and_unknown_look_alike_and_guessing_stops(
        client: TestClient, world: World, database: Database) -> None:
    spot = world.place(capacity=50)
    commune, session = spot["commune"], spot["session"]
    victim = person(commune["id"], year=1958)
    assert book(client, session["id"], victim, chat="victim").status_code == 201

    # The attacker knows the CCCD (the year is printed in it) and tries dates from a chat of its own.
    answers = []
    for day in range(1, 10):
        guess = {**victim, "birth_date": f"1958-01-{day:02d}", "phone": f"0399{day:06d}"}
        answers.append(book(client, session["id"], guess, chat="attacker", address="198.51.100.7"))
    stranger = book(client, session["id"], person(commune["id"], year=1958), chat="attacker-2")
    # A wrong date is answered as a new CCCD is: 201, a booking (marked for the station to check).
    assert [a.status_code for a in answers[:3]] == [201, 201, 201]
    assert stranger.status_code == 201
    assert set(answers[0].json()) == set(stranger.json())
    # After three wrong dates this source is locked out of that CCCD: even the right date is 429.
    assert all(a.status_code == 429 for a in answers[3:]), [a.status_code for a in answers]
    right = book(client, session["id"], {**victim, "phone": "0399999999"}, chat="attacker", address="198.51.100.7")
    assert right.status_code == 429
    with database.read() as db:
        kinds = set(db.scalars(select(SecurityAlert.kind)))
    assert "identity_dispute" in kinds


def test_record_lookup_oracle_is_counted_per_signed_chat_not_a_body_field(client: TestClient, world: World) -> None:
    spot = world.place(capacity=30)
    commune, session = spot["commune"], spot["session"]
    victim = person(commune["id"])
    assert book(client, session["id"], victim, chat="victim").status_code == 201
    statuses = []
    for i in range(14):
        # A new body chat_id each time changes nothing: the signed chat is what counts.
        response = client.post("/api/v1/records/status", headers=chat_headers(sender="prober"), json={
            "cccd": victim["cccd"], "birth_date": f"1958-02-{i + 1:02d}", "chat_id": f"fresh-{i}"})
        statuses.append(response.status_code)
    assert statuses[:3] == [200, 200, 200] and set(statuses[3:]) == {429}, statuses
    # Unknown and wrong are the same answer.
    unknown = client.post("/api/v1/records/status", headers=chat_headers(sender="other"), json={
        "cccd": person(commune["id"])["cccd"], "birth_date": "1958-03-05"})
    wrong = client.post("/api/v1/records/status", headers=chat_headers(sender="other2"), json={
        "cccd": victim["cccd"], "birth_date": "1958-04-05"})
    assert unknown.status_code == wrong.status_code == 200 and unknown.json() == wrong.json()


def test_seat_flood_from_one_chat_and_from_one_address_is_stopped(client: TestClient, world: World) -> None:
    spot = world.place(capacity=30)
    commune, session = spot["commune"], spot["session"]
    one_chat = [book(client, session["id"], person(commune["id"]), chat="flooder").status_code for _ in range(8)]
    assert one_chat == [201] * 4 + [429] * 4
    # Many chats (a script opening web chats) behind one address.
    many = [book(client, session["id"], person(commune["id"]), chat=f"web-{i}", address="203.0.113.9").status_code
            for i in range(25)]
    assert many.count(201) == 20 and set(many[20:]) == {429}
    seats = client.get("/api/v1/sessions", params={"commune_id": commune["id"]}).json()["items"][0]
    assert seats["booked"] == 24 and seats["available"] == 6


def test_a_session_filling_faster_than_people_type_alerts_the_station_who_cancel_in_bulk(
        client: TestClient, world: World, staff_token: Any) -> None:
    spot = world.place(capacity=40)
    commune, session = spot["commune"], spot["session"]
    codes = [book(client, session["id"], person(commune["id"]), chat=f"bot-{i}", address=f"192.0.2.{i}").json()["code"]
             for i in range(16)]
    station = staff_token("station", commune_id=commune["id"])
    alerts = client.get("/api/v1/alerts", headers=station).json()["items"]
    assert [a["kind"] for a in alerts] == ["booking_burst"] and alerts[0]["session_id"] == session["id"]
    cancelled = client.post(f"/api/v1/sessions/{session['id']}/bookings/cancel", headers=station,
                            json={"codes": codes[:10]})
    assert cancelled.status_code == 200 and cancelled.json()["cancelled"] == 10
    rest = client.post(f"/api/v1/sessions/{session['id']}/bookings/cancel", headers=station, json={
        "created_from": (world_now() - timedelta(minutes=5)).isoformat(), "channel": "web"})
    assert rest.json()["cancelled"] == 6
    other = staff_token("station", commune_id=world.commune("Khác")["id"])
    assert client.post(f"/api/v1/sessions/{session['id']}/bookings/cancel", headers=other,
                       json={"codes": codes}).status_code == 403


def world_now() -> Any:
    from datetime import datetime

    from api.core.clock import local_tz

    return datetime.now(local_tz())


def test_global_failures_never_lock_everyone_out(client: TestClient, world: World, database: Database) -> None:
    spot = world.place(capacity=30)
    commune, session = spot["commune"], spot["session"]
    resident = person(commune["id"])
    assert book(client, session["id"], resident, chat="resident").status_code == 201
    # The old rule locked every lookup after 500 failures from anywhere; replay a flood of 520
    # failures from many chats and addresses.
    for i in range(520):
        flood = chat_headers(sender=f"flood-{i}", address=f"198.18.{i // 250}.{i % 250}")
        client.post("/api/v1/records/status", headers=flood,
                    json={"cccd": person(commune["id"])["cccd"], "birth_date": "1958-03-05"})
    own = client.post("/api/v1/records/status", headers=chat_headers(sender="resident"),
                      json={"cccd": resident["cccd"], "birth_date": resident["birth_date"]})
    assert own.status_code == 200, own.text
    with database.read() as db:
        assert db.scalar(select(SecurityAlert.kind).where(SecurityAlert.kind == "identity_flood")) is not None


def test_a_stranger_booking_first_with_a_made_up_date_does_not_lock_the_owner_out(
        client: TestClient, world: World, staff_token: Any) -> None:
    spot = world.place(capacity=30)
    commune, session = spot["commune"], spot["session"]
    owner = person(commune["id"], year=1960)
    squat = book(client, session["id"], {**owner, "birth_date": "1960-12-31", "phone": "0388000001"}, chat="squatter")
    assert squat.status_code == 201
    mine = book(client, session["id"], owner, chat="owner")
    assert mine.status_code == 201, mine.text
    held = client.post("/api/v1/privacy/held-data", headers=chat_headers(sender="owner"),
                       json={"cccd": owner["cccd"], "birth_date": owner["birth_date"]})
    assert held.json()["found"] is True and held.json()["phone_masked"].endswith(owner["phone"][-3:])
    station = staff_token("station", commune_id=commune["id"])
    assert "identity_dispute" in {a["kind"] for a in client.get("/api/v1/alerts", headers=station).json()["items"]}


def test_a_booking_code_alone_opens_nothing(client: TestClient, world: World) -> None:
    spot = world.place(capacity=30)
    commune, session = spot["commune"], spot["session"]
    someone = person(commune["id"])
    code = book(client, session["id"], someone, chat="owner").json()["code"]
    stranger = chat_headers(sender="stranger")
    assert client.get(f"/api/v1/bookings/{code}", headers=chat_headers(sender="owner")).status_code == 200
    for method, path in (("GET", f"/api/v1/bookings/{code}"), ("POST", f"/api/v1/bookings/{code}/cancel")):
        response = client.request(method, path, headers=stranger)
        assert response.status_code == 404 and response.json()["code"] == "booking_not_found"
    # The same answer as a code that does not exist.
    assert client.get("/api/v1/bookings/KE3MX7PA", headers=stranger).json() == client.get(
        f"/api/v1/bookings/{code}", headers=stranger).json()
    subscribe = {"booking_code": code, "channel": "telegram", "chat_id": "666", "consent_notice": NOTICE}
    assert client.post("/api/v1/reminders/subscribe", headers=chat_headers("telegram", "666"),
                       json=subscribe).status_code == 404
    assert client.post("/api/v1/reminders/subscribe", headers=chat_headers("telegram", "777"),
                       json=subscribe).status_code == 403
    # With the second factor, another chat may see it (the resident on another phone).
    tail = {"X-Booking-Verifier": someone["phone"][-3:]}
    assert client.get(f"/api/v1/bookings/{code}", headers={**stranger, **tail}).status_code == 200
    birth = {"X-Booking-Verifier": someone["birth_date"]}
    assert client.get(f"/api/v1/bookings/{code}", headers={**stranger, **birth}).status_code == 200
    assert client.get(f"/api/v1/bookings/{code}", headers=chat_headers(sender="owner")).json()["status"] == "confirmed"


def test_guessing_codes_or_factors_stops_after_ten(client: TestClient, world: World) -> None:
    spot = world.place(capacity=30)
    commune, session = spot["commune"], spot["session"]
    someone = person(commune["id"])
    code = book(client, session["id"], someone, chat="owner").json()["code"]
    guesser = chat_headers(sender="guesser", address="198.51.100.20")
    statuses = [client.get(f"/api/v1/bookings/{code}", headers={**guesser, "X-Booking-Verifier": wrong_tail(someone, i)}
                           ).status_code for i in range(200, 215)]
    assert statuses[:10] == [404] * 10 and set(statuses[10:]) == {429}, statuses
    right = client.get(f"/api/v1/bookings/{code}", headers={**guesser, "X-Booking-Verifier": someone["phone"][-3:]})
    assert right.status_code == 429


def test_one_active_booking_per_phone_unless_the_station_allows_it(
        client: TestClient, world: World, staff_token: Any) -> None:
    spot = world.place(capacity=30)
    commune, session = spot["commune"], spot["session"]
    first = person(commune["id"])
    assert book(client, session["id"], first, chat="a").status_code == 201
    spouse = {**person(commune["id"]), "phone": first["phone"]}
    refused = book(client, session["id"], spouse, chat="b")
    assert refused.status_code == 409 and refused.json()["code"] == "phone_has_active_booking"
    body = {"session_id": session["id"], "resident": spouse, "consent_notice": NOTICE, "consent_method": "in_person",
            "shared_phone": True}
    cadre = staff_token("cadre")
    assert client.post("/api/v1/bookings/on-behalf", headers=cadre, json=body).status_code == 403
    station = staff_token("station", commune_id=commune["id"])
    assert client.post("/api/v1/bookings/on-behalf", headers=station, json=body).status_code == 201


def test_station_staff_cannot_mark_attendance_in_another_commune(
        client: TestClient, world: World, staff_token: Any) -> None:
    spot = world.place(capacity=30)
    commune, session = spot["commune"], spot["session"]
    code = book(client, session["id"], person(commune["id"]), chat="a").json()["code"]
    elsewhere = staff_token("station", commune_id=world.commune("Xã khác")["id"])
    response = client.post(f"/api/v1/bookings/{code}/attendance", headers=elsewhere, json={"attended": True})
    assert response.status_code == 403
    own = staff_token("station", commune_id=commune["id"])
    assert client.post(f"/api/v1/bookings/{code}/attendance", headers=own, json={"attended": True}).status_code == 200


def test_anonymous_writes_are_counted_per_chat(client: TestClient) -> None:
    statuses = [client.post("/api/v1/reports/scam", headers=chat_headers(sender="spammer"),
                            json={"text": f"tin nhắn lạ {i}", "channel": "web"}).status_code for i in range(62)]
    assert statuses[:60] == [201] * 60 and statuses[60:] == [429, 429]


def test_a_disputed_claim_survives_a_key_rotation(client: TestClient, world: World, database: Database,
                                                  settings: Any) -> None:
    spot = world.place(capacity=30)
    commune, session = spot["commune"], spot["session"]
    owner = person(commune["id"], year=1960)
    book(client, session["id"], {**owner, "birth_date": "1960-12-31", "phone": "0388000002"}, chat="squatter")
    book(client, session["id"], owner, chat="owner")
    new_secret = "another-secret-for-rotation-0123456789abcdef"
    rotated = settings.model_copy(update={"secret_key": type(settings.secret_key)(new_secret),
                                          "previous_secret_keys": TEST_SECRET})
    crypto = Crypto.from_settings(rotated)
    with database.write() as db:
        rotate_keys(db, crypto, rotated)
    with database.read() as db:
        claim = db.scalar(select(Resident).where(Resident.claim_of.is_not(None)))
        assert claim is not None and claim.claim_of == crypto.lookup_hash(owner["cccd"])
        assert claim.cccd_hash == claim_hash(crypto, owner["cccd"], date.fromisoformat(owner["birth_date"]))


# --- replays of the review's findings --------------------------------------------------------------

def test_a_claim_never_reaches_the_owners_consents_or_reminders(client: TestClient, world: World,
                                                                 database: Database) -> None:
    spot = world.place(capacity=30)
    commune, session = spot["commune"], spot["session"]
    owner = person(commune["id"], year=1961)
    code = book(client, session["id"], owner, chat="owner", channel="telegram").json()["code"]
    assert client.post("/api/v1/reminders/subscribe", headers=chat_headers("telegram", "111"), json={
        "booking_code": code, "channel": "telegram", "chat_id": "111", "consent_notice": NOTICE},
    ).status_code == 404  # another chat without the factor
    owner_chat = chat_headers(sender="owner")
    assert client.get(f"/api/v1/bookings/{code}", headers=owner_chat).status_code == 200
    # The attacker books a claim with a made-up date, then uses its own rights with that date.
    fake = {**owner, "birth_date": "1961-06-06", "phone": "0388000003"}
    assert book(client, session["id"], fake, chat="attacker").status_code == 201
    identity = {"cccd": owner["cccd"], "birth_date": fake["birth_date"]}
    attacker = chat_headers(sender="attacker")
    held = client.post("/api/v1/privacy/held-data", headers=attacker, json=identity).json()
    assert held["found"] is True and held["phone_masked"].endswith("003")  # only the claim's own data
    client.post("/api/v1/privacy/erase", headers=attacker, json=identity)
    mine = client.post("/api/v1/privacy/held-data", headers=owner_chat,
                       json={"cccd": owner["cccd"], "birth_date": owner["birth_date"]}).json()
    assert mine["found"] is True and [c["purpose"] for c in mine["consents"]] == ["booking"]
    assert [b["code"] for b in mine["bookings"]] == [code]


def test_guessing_one_bookings_factor_from_many_chats_stops_after_five(
        client: TestClient, world: World, database: Database) -> None:
    spot = world.place(capacity=30)
    commune, session = spot["commune"], spot["session"]
    someone = person(commune["id"])
    code = book(client, session["id"], someone, chat="owner").json()["code"]
    tries = []
    for i in range(12):  # every try from a fresh chat and address: only the booking's counter sees them all
        headers = {**chat_headers(sender=f"g{i}", address=f"198.51.100.{i}"),
                   "X-Booking-Verifier": wrong_tail(someone, i)}
        tries.append(client.get(f"/api/v1/bookings/{code}", headers=headers).status_code)
    right = {**chat_headers(sender="g99", address="198.51.100.99"), "X-Booking-Verifier": someone["phone"][-3:]}
    assert set(tries) == {404} and client.get(f"/api/v1/bookings/{code}", headers=right).status_code == 404
    # Its own chat still works, and the commune is told.
    assert client.get(f"/api/v1/bookings/{code}", headers=chat_headers(sender="owner")).status_code == 200
    with database.read() as db:
        assert db.scalar(select(SecurityAlert.kind).where(SecurityAlert.kind == "code_guessing")) is not None


def test_an_ipv6_host_is_one_address_not_two_to_the_64(client: TestClient, world: World) -> None:
    spot = world.place(capacity=30)
    commune, session = spot["commune"], spot["session"]
    statuses = [book(client, session["id"], person(commune["id"]), chat=f"v6-{i}",
                     address=f"2001:db8:1:2::{i:x}").status_code for i in range(24)]
    assert statuses.count(201) == 20 and set(statuses[20:]) == {429}


def test_a_targeted_persons_pause_does_not_grow(client: TestClient, world: World, database: Database) -> None:
    from api.security.models import Throttle

    spot = world.place(capacity=30)

    commune, session = spot["commune"], spot["session"]
    victim = person(commune["id"])
    book(client, session["id"], victim, chat="victim")
    pauses = []
    for round_ in range(3):
        for i in range(10):
            client.post("/api/v1/records/status", headers=chat_headers(sender=f"r{round_}-{i}",
                                                                         address=f"203.0.113.{round_ * 10 + i}"),
                        json={"cccd": victim["cccd"], "birth_date": f"1958-01-{i + 1:02d}"})
        with database.write() as db:
            row = db.scalars(select(Throttle).where(Throttle.subject.like("cccd:%"))).one()
            assert row.locked_until is not None
            pauses.append(row.locked_until - row.window_started_at)
            row.locked_until = row.window_started_at  # the pause has run out
    assert pauses[0] == pauses[1] == pauses[2] == timedelta(hours=1)


def test_a_phone_clash_is_shown_to_the_station(client: TestClient, world: World, staff_token: Any) -> None:
    spot = world.place(capacity=30)
    commune, session = spot["commune"], spot["session"]
    first = person(commune["id"])
    book(client, session["id"], first, chat="a")
    assert book(client, session["id"], {**person(commune["id"]), "phone": first["phone"]}, chat="b").status_code == 409
    station = staff_token("station", commune_id=commune["id"])
    assert "phone_clash" in {a["kind"] for a in client.get("/api/v1/alerts", headers=station).json()["items"]}


def test_a_locked_source_gets_the_same_answer_for_a_known_and_an_unknown_cccd(
        client: TestClient, world: World) -> None:
    spot = world.place(capacity=30)
    commune, session = spot["commune"], spot["session"]
    known, unknown = person(commune["id"]), person(commune["id"])
    book(client, session["id"], known, chat="known")
    for target in (known, unknown):
        for day in range(1, 4):
            client.post("/api/v1/records/status", headers=chat_headers(sender="prober"),
                        json={"cccd": target["cccd"], "birth_date": f"1958-02-{day:02d}"})
    answers = [book(client, session["id"], {**target, "phone": f"039800000{i}"}, chat="prober")
               for i, target in enumerate((known, unknown))]
    assert [a.status_code for a in answers] == [429, 429]
    assert answers[0].json()["code"] == answers[1].json()["code"] == "too_many_attempts"


def test_staff_tokens_other_than_station_and_admin_are_no_resident_origin(
        client: TestClient, world: World, staff_token: Any) -> None:
    spot = world.place(capacity=30)
    commune, session = spot["commune"], spot["session"]
    body = {"session_id": session["id"], "resident": person(commune["id"]), "consent_notice": NOTICE}
    for role in ("cadre", "editor"):
        headers = {**staff_token(role), HEADER: ""}
        assert client.post("/api/v1/bookings", headers=headers, json=body).status_code == 403
        assert client.post("/api/v1/records/status", headers=headers,
                           json={"cccd": body["resident"]["cccd"], "birth_date": "1958-03-05"}).status_code == 403
    station = {**staff_token("station", commune_id=commune["id"]), HEADER: ""}
    refused = client.post("/api/v1/bookings", headers=station, json=body)
    assert refused.status_code == 403 and refused.json()["code"] == "use_on_behalf"


def test_odd_inputs_are_4xx_not_5xx(client: TestClient, world: World, staff_token: Any) -> None:
    spot = world.place(capacity=30)
    commune, session = spot["commune"], spot["session"]
    station = staff_token("station", commune_id=commune["id"])
    naive = client.post(f"/api/v1/sessions/{session['id']}/bookings/cancel", headers=station,
                        json={"created_from": "2026-01-01T00:00:00"})
    assert naive.status_code == 422
    # Properly signed but with a time no integer holds (only a holder of the key could send it).
    key = chat_identity_key(TEST_SECRET.encode())
    payload = b'{"c":"web","s":"x","a":"","t":1e400}'
    token = (base64.urlsafe_b64encode(payload).rstrip(b"=").decode() + "." + base64.urlsafe_b64encode(
        hmac.new(key, payload, hashlib.sha256).digest()).rstrip(b"=").decode())
    assert verify(key, token, now=time.time()) is None


def test_parallel_bookings_with_one_phone_make_one(client: TestClient, world: World) -> None:
    spot = world.place(capacity=30)
    commune, session = spot["commune"], spot["session"]
    phone = "0911222333"
    bodies = [{**person(commune["id"]), "phone": phone} for _ in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda pair: book(client, session["id"], pair[1], chat=f"p{pair[0]}").status_code,
                                 enumerate(bodies)))
    assert sorted(statuses) == [201] + [409] * 7, statuses


def test_the_station_sees_a_burst_in_its_pages_and_cancels_it_in_one_tap(
        client: TestClient, world: World, studio_login: Any) -> None:
    spot = world.place(capacity=40)
    commune, session = spot["commune"], spot["session"]
    for i in range(16):
        book(client, session["id"], person(commune["id"]), chat=f"bot-{i}", address=f"192.0.2.{i}")
    elsewhere = studio_login("station", commune_id=world.commune("Xã khác")["id"])
    assert "Buổi khám nhận lịch nhanh bất thường" not in elsewhere.get("/studio/alerts").text
    station = studio_login("station", commune_id=commune["id"])
    page = station.get("/studio/alerts").text
    assert "Buổi khám nhận lịch nhanh bất thường" in page
    alert_id = re.search(r'/studio/alerts/(\d+)/cancel-burst', page)[1]  # type: ignore[index]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)[1]  # type: ignore[index]
    foreign_csrf = re.search(r'name="csrf" value="([^"]+)"', elsewhere.get("/studio/alerts").text)
    if foreign_csrf:  # another commune's station cannot act on it
        refused = elsewhere.post(f"/studio/alerts/{alert_id}/cancel-burst", data={"csrf": foreign_csrf[1]})
        assert refused.status_code == 404
    done = station.post(f"/studio/alerts/{alert_id}/cancel-burst", data={"csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/studio/alerts?cancelled=16"
    assert "Đã hủy 16 lịch hẹn" in station.get(done.headers["location"]).text
    seats = client.get("/api/v1/sessions", params={"commune_id": commune["id"]}).json()["items"][0]
    assert seats["booked"] == 0


def test_probing_which_phones_have_a_booking_costs_like_booking(client: TestClient, world: World) -> None:
    spot = world.place(capacity=40)
    commune, session = spot["commune"], spot["session"]
    phones = []
    for i in range(6):
        someone = person(commune["id"])
        book(client, session["id"], someone, chat=f"resident-{i}")
        phones.append(someone["phone"])
    probes = [book(client, session["id"], {**person(commune["id"]), "phone": phone}, chat="prober").status_code
              for phone in phones]
    assert probes == [409] * 4 + [429] * 2


def test_lockouts_kept_up_for_months_never_overflow() -> None:
    from api.security.limits import Escalation

    hour, month = timedelta(hours=1), timedelta(days=30)
    assert Escalation(hour, month).duration(10_000) == month
    assert Escalation(hour, hour).duration(10_000) == hour
    assert [Escalation(hour, month).duration(n) for n in (1, 2, 3)] == [hour, 2 * hour, 4 * hour]


def test_a_paused_bookings_factor_is_not_compared_even_after_many_lockouts(
        client: TestClient, world: World, database: Database) -> None:
    from api.security.models import Throttle

    spot = world.place(capacity=30)

    commune, session = spot["commune"], spot["session"]
    someone = person(commune["id"])
    code = book(client, session["id"], someone, chat="owner").json()["code"]
    wrong = [f"{(int(someone['phone'][-3:]) + k) % 1000:03d}" for k in range(1, 6)]
    for i, guess in enumerate(wrong):
        client.get(f"/api/v1/bookings/{code}", headers={**chat_headers(sender=f"x{i}", address=f"198.51.100.{i}"),
                                                        "X-Booking-Verifier": guess})
    with database.write() as db:  # as if an attacker had kept it paused for months
        row = db.scalars(select(Throttle).where(Throttle.subject.like("code-booking:%"))).one()
        row.lockouts, row.locked_until = 40, row.window_started_at
    tail = int(someone["phone"][-3:])
    statuses = [client.get(f"/api/v1/bookings/{code}", headers={
        **chat_headers(sender=f"y{i}", address=f"203.0.113.{i}"),
        "X-Booking-Verifier": f"{(tail + i + 1) % 1000:03d}"}).status_code for i in range(6)]
    assert statuses == [404] * 6  # counted again, paused again: no 500, no unlimited guessing
    right = {**chat_headers(sender="y9", address="203.0.113.99"), "X-Booking-Verifier": someone["phone"][-3:]}
    assert client.get(f"/api/v1/bookings/{code}", headers=right).status_code == 404
