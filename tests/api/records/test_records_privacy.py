"""E-health book status and the resident's data rights, on SQLite and PostgreSQL.

Each test is about something a resident, a station or an attacker does: look up a book, import a
list, guess birth dates, ask what we hold, erase everything, and the jobs that purge and rotate.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from api.consent.models import Consent
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import Database, utcnow
from api.main import create_app
from api.models import Base
from api.privacy.service import purge, rotate_keys
from api.records.models import ApiKey, HealthRecord
from api.records.service import api_key_hash
from api.residents.models import Resident
from api.security.models import SecurityAlert
from common.chat_identity import HEADER, sign
from common.keys import chat_identity_key
from tests.support.env import chat_headers, service_credential
from tests.support.world import World, booked, import_csv, person

STATUS = "/api/v1/records/status"


def lookup(client: TestClient, cccd: str, birth_date: str, chat: str | None = "chat-1", **extra: Any) -> Any:
    """A lookup from the chat the gateway signed (None: our service without a chat)."""
    headers = chat_headers(sender=chat) if chat else {HEADER: ""}
    return client.post(STATUS, headers=headers, json={"cccd": cccd, "birth_date": birth_date, **extra})


def test_unknown_person_and_wrong_birth_date_get_the_same_answer(
    client: TestClient, world: World, staff_token: Callable[..., dict[str, str]]
) -> None:
    commune = world.commune()
    station = staff_token("station", commune_id=commune["id"])
    known = person(commune["id"])
    imported = import_csv(client, station, f"cccd,ngay_sinh,trang_thai,ngay_cap_nhat\n{known['cccd']},05/03/1958,"
                                          "đã cập nhật,01/10/2026\n")
    assert imported.status_code == 201, imported.text
    unknown = person(commune["id"])

    wrong_date = lookup(client, known["cccd"], "1958-03-06")
    not_found = lookup(client, unknown["cccd"], "1958-03-05", chat="chat-2")
    assert wrong_date.status_code == not_found.status_code == 200
    assert wrong_date.content == not_found.content
    assert not_found.json()["status"] == "not_found"

    found = lookup(client, known["cccd"], "1958-03-05", chat="chat-3", consent_notice="2026-01", channel="telegram")
    assert found.status_code == 200
    body = found.json()
    assert body["status"] == "updated" and body["updated_on"] == "2026-10-01"
    assert "VNeID" in body["next_step"] and "công an xã" in body["next_step"]


def test_lookup_records_consent_and_audits_without_personal_data(
    client: TestClient, world: World, database: Database, staff_token: Callable[..., dict[str, str]]
) -> None:
    commune = world.commune()
    someone = person(commune["id"])
    import_csv(client, staff_token("station", commune_id=commune["id"]),
               f"cccd,ngay_sinh,trang_thai\n{someone['cccd']},{someone['birth_date']},created\n")
    answer = lookup(client, someone["cccd"], someone["birth_date"], consent_notice="2026-01")
    assert answer.json()["status"] == "created"
    with database.read() as db:
        consents = db.scalars(select(Consent)).all()
        audit_rows = db.execute(text("SELECT action, entity_id, detail FROM audit_log")).all()
    assert [(c.purpose, c.notice_version) for c in consents] == [("record_lookup", "2026-01")]
    assert any(row[0] == "record.lookup" for row in audit_rows)
    assert someone["cccd"] not in str(audit_rows)


def test_csv_import_reports_bad_rows_and_is_idempotent(
    client: TestClient, world: World, staff_token: Callable[..., dict[str, str]]
) -> None:
    commune = world.commune()
    station = staff_token("station", commune_id=commune["id"])
    good, other = person(commune["id"]), person(commune["id"])
    body = (
        "so_cccd;ngay_sinh;trang_thai;ngay_cap_nhat\n"
        f"{good['cccd']};05/03/1958;da kham;\n"
        f"{other['cccd']};1958-03-05;linked_vneid;2026-09-30\n"
        "12345;05/03/1958;created;\n"                       # too short
        f"{person(commune['id'])['cccd']};05/03/1970;created;\n"   # birth year does not match the CCCD
        f"{person(commune['id'])['cccd']};31/02/1958;created;\n"   # no such day
        f"{person(commune['id'])['cccd']};05/03/1958;bí ẩn;\n"     # unknown status
        f"{person(commune['id'])['cccd']};05/03/1958;updated;\n"   # updated without its date
        f"{good['cccd']};05/03/1958;created;\n"                    # same person twice
    )
    first = import_csv(client, station, body)
    assert first.status_code == 201, first.text
    assert first.json() | {"id": 0} == {
        "id": 0, "filename": "so.csv", "rows": 8, "created": 2, "updated": 0, "unchanged": 0, "failed": 6,
        "error_report_url": f"/api/v1/records/imports/{first.json()['id']}/errors.csv"}

    report = client.get(first.json()["error_report_url"], headers=station)
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/csv")
    lines = report.text.strip().splitlines()
    assert lines[0] == "dong,cot,gia_tri,loi" and [line.split(",")[0] for line in lines[1:]] == [
        "4", "5", "6", "7", "8", "9"]
    assert "Trùng số căn cước với dòng 2" in report.text
    assert good["cccd"] not in report.text and "•••" in report.text

    again = import_csv(client, station, body)
    assert (again.json()["created"], again.json()["updated"], again.json()["unchanged"]) == (0, 0, 2)

    listed = client.get("/api/v1/records", headers=station).json()
    assert listed["counts"] == {"exam_done_pending_update": 1, "linked_vneid": 1}
    assert {item["cccd_masked"] for item in listed["items"]} == {"•" * 9 + good["cccd"][-3:],
                                                                   "•" * 9 + other["cccd"][-3:]}

    other_station = staff_token("station", commune_id=world.commune("Yên Thịnh")["id"])
    assert client.get(first.json()["error_report_url"], headers=other_station).status_code == 403


@pytest.mark.parametrize("content, code", [
    (b"", "invalid_import_file"),
    (b"ho_ten,ngay\nA,B\n", "invalid_import_file"),
    ("cccd,ngay_sinh,trang_thai\n".encode("cp1258", errors="ignore") + b"\xff\xfe\xfa\n", "invalid_import_file"),
    (b"cccd,ngay_sinh,trang_thai\n" + b"9" * 200_000 + b",x,y\n", "invalid_import_file"),
])
def test_csv_import_refuses_files_that_are_not_the_template(
    client: TestClient, world: World, staff_token: Callable[..., dict[str, str]], content: bytes, code: str
) -> None:
    station = staff_token("station", commune_id=world.commune()["id"])
    response = client.post("/api/v1/records/import", headers=station, files={"file": ("x.csv", content)})
    assert response.status_code == 422 and response.json()["code"] == code
    assert client.post("/api/v1/records/import", files={"file": ("x.csv", b"")}).status_code == 401


def test_health_information_system_upserts_with_an_api_key(
    client: TestClient, world: World, database: Database
) -> None:
    commune = world.commune()
    key = "ksk_" + uuid.uuid4().hex
    with database.write() as db:
        db.add(ApiKey(name="his", key_hash=api_key_hash(key)))
    someone = person(commune["id"])
    batch = {"records": [
        {"cccd": someone["cccd"], "birth_date": someone["birth_date"], "status": "updated",
         "updated_on": "2026-11-01", "commune_id": commune["id"]},
        {"cccd": "001", "birth_date": "1958-03-05", "status": "created"},
        {"cccd": person(commune["id"])["cccd"], "birth_date": "1958-03-05", "status": "created", "commune_id": 999999},
    ]}
    assert client.post("/api/v1/integration/records", json=batch).status_code == 401
    assert client.post("/api/v1/integration/records", json=batch, headers={"X-Api-Key": "sai"}).json()["code"] == \
        "invalid_api_key"
    response = client.post("/api/v1/integration/records", json=batch, headers={"X-Api-Key": key})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["unchanged"]) == (1, 0)
    assert [(e["index"], e["code"]) for e in body["errors"]] == [(1, "invalid_cccd"), (2, "commune_not_found")]
    again = client.post("/api/v1/integration/records", json={"records": batch["records"][:1]},
                        headers={"X-Api-Key": key}).json()
    assert again["unchanged"] == 1
    assert lookup(client, someone["cccd"], someone["birth_date"]).json()["status"] == "updated"


def test_attendance_marks_the_book_as_waiting_for_results(
    client: TestClient, world: World, staff_token: Callable[..., dict[str, str]]
) -> None:
    commune = world.commune()
    session = world.session(world.site(commune["id"])["id"])
    someone = person(commune["id"])
    code = client.post("/api/v1/bookings", json={"session_id": session["id"], "resident": someone}).json()["code"]
    assert lookup(client, someone["cccd"], someone["birth_date"]).json()["status"] == "not_found"
    marked = client.post(f"/api/v1/bookings/{code}/attendance", json={"attended": True},
                         headers=staff_token("station", commune_id=commune["id"]))
    assert marked.status_code == 200
    answer = lookup(client, someone["cccd"], someone["birth_date"]).json()
    assert answer["status"] == "exam_done_pending_update" and "vài ngày" in answer["next_step"]


# --- brute force ---------------------------------------------------------------------------------

def random_guess(rng: random.Random) -> tuple[str, str]:
    year = rng.randint(1940, 1999)
    day = date(year, 1, 1) + timedelta(days=rng.randint(0, 364))
    return f"0030{year % 100:02d}{rng.randint(0, 999999):06d}", day.isoformat()


def test_a_thousand_guesses_from_one_chat_are_locked_out_after_ten(client: TestClient) -> None:
    rng = random.Random(1)
    codes = [lookup(client, *random_guess(rng), chat="attacker").status_code for _ in range(1000)]
    assert codes[:10] == [200] * 10
    assert set(codes[10:]) == {429}
    locked = lookup(client, *random_guess(rng), chat="attacker").json()
    assert locked["code"] == "too_many_attempts" and "trạm y tế xã" in locked["message"]
    assert locked["details"]["retry_after_seconds"] > 0
    # Another chat is not affected by this one's lockout.
    assert lookup(client, *random_guess(rng), chat="neighbour").status_code == 200


def test_guesses_on_one_cccd_from_many_chats_pause_that_cccd(
    client: TestClient, world: World, staff_token: Callable[..., dict[str, str]]
) -> None:
    commune = world.commune()
    victim = person(commune["id"])
    import_csv(client, staff_token("station", commune_id=commune["id"]),
               f"cccd,ngay_sinh,trang_thai\n{victim['cccd']},{victim['birth_date']},updated\n".replace(
                   "updated", "created"))
    rng = random.Random(2)
    codes = []
    for attempt in range(1000):
        guess = date(1958, 1, 1) + timedelta(days=rng.randint(0, 364))
        if guess.isoformat() == victim["birth_date"]:
            continue
        codes.append(lookup(client, victim["cccd"], guess.isoformat(), chat=f"chat-{attempt}").status_code)
    # Each chat fails once; past ten failures from anywhere the person's online checks pause.
    assert codes[:10] == [200] * 10 and set(codes[10:]) == {429}
    # Even the right birth date is refused while the CCCD is locked: the lock is no oracle.
    assert lookup(client, victim["cccd"], victim["birth_date"], chat="owner").status_code == 429


@pytest.fixture
def strict_client(settings: Settings, database: Database) -> Iterator[TestClient]:
    strict = settings.model_copy(update={"lookup_global_failures": 50})
    headers = {"Authorization": f"Bearer {service_credential(database)}"}
    with TestClient(create_app(strict, database), raise_server_exceptions=False, headers=headers) as test_client:
        yield test_client


def test_a_flood_from_many_chats_tightens_every_source_and_alerts_but_locks_nobody_out(
        strict_client: TestClient, database: Database) -> None:
    rng = random.Random(3)
    codes = [lookup(strict_client, *random_guess(rng), chat=f"c{i}").status_code for i in range(200)]
    assert set(codes) == {200}  # no kill switch: everyone else can still look up
    with database.read() as db:
        assert db.scalar(select(SecurityAlert.count).where(SecurityAlert.kind == "identity_flood")) == 1
    # Tightened: one more failure on a CCCD locks that chat out of it at once.
    cccd, birth = random_guess(rng)
    assert lookup(strict_client, cccd, birth, chat="late").status_code == 200
    assert lookup(strict_client, cccd, birth, chat="late").status_code == 429


def test_lockouts_double_each_time(client: TestClient, database: Database) -> None:
    from api.security.models import Throttle

    rng = random.Random(4)
    for _ in range(10):
        lookup(client, *random_guess(rng), chat="again")
    with database.write() as db:
        throttle = db.scalars(select(Throttle).where(Throttle.subject.like("id-chat:%"))).one()
        first = throttle.locked_until - throttle.window_started_at
        throttle.locked_until = utcnow() - timedelta(seconds=1)  # the first lockout has run out
    for _ in range(10):
        lookup(client, *random_guess(rng), chat="again")
    with database.read() as db:
        throttle = db.scalars(select(Throttle).where(Throttle.subject.like("id-chat:%"))).one()
        assert throttle.lockouts == 2
        assert throttle.locked_until - throttle.window_started_at == first * 2


# --- rights --------------------------------------------------------------------------------------

def book(client: TestClient, session_id: int, someone: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return booked(client, session_id, someone, channel="telegram", **extra)


def test_held_data_shows_the_person_their_own_data_masked(client: TestClient, world: World) -> None:
    commune = world.commune()
    session = world.session(world.site(commune["id"])["id"])
    someone = person(commune["id"])
    code = book(client, session["id"], someone, consent_notice="2026-01")["code"]
    identity = {"cccd": someone["cccd"], "birth_date": someone["birth_date"], "chat_id": "me"}

    held = client.post("/api/v1/privacy/held-data", json=identity).json()
    assert held["found"] is True and held["full_name"] == "Nông Thị Mai" and held["commune"] == "Hữu Liên"
    assert held["phone_masked"].endswith(someone["phone"][-3:]) and someone["phone"] not in str(held)
    assert [b["code"] for b in held["bookings"]] == [code]
    assert [(c["purpose"], c["notice_version"]) for c in held["consents"]] == [("booking", "2026-01")]

    wrong = client.post("/api/v1/privacy/held-data", json=identity | {"birth_date": "1958-03-06"}).json()
    unknown = client.post("/api/v1/privacy/held-data", json=identity | {"cccd": person(commune["id"])["cccd"]}).json()
    assert wrong == unknown == {"found": False, "full_name": None, "phone_masked": None, "birth_year": None,
                                "commune": None, "record_status": None, "record_label": None, "bookings": [],
                                "consents": []}


def test_withdrawing_consent_stamps_it_and_booking_consent_means_erasure(
    client: TestClient, world: World, staff_token: Callable[..., dict[str, str]]
) -> None:
    commune = world.commune()
    someone = person(commune["id"])
    import_csv(client, staff_token("station", commune_id=commune["id"]),
               f"cccd,ngay_sinh,trang_thai\n{someone['cccd']},{someone['birth_date']},created\n")
    lookup(client, someone["cccd"], someone["birth_date"], consent_notice="2026-01")
    identity = {"cccd": someone["cccd"], "birth_date": someone["birth_date"], "chat_id": "me"}
    assert client.post("/api/v1/privacy/withdraw", json=identity | {"purpose": "record_lookup"}).json() == {
        "withdrawn": 1}
    consents = client.post("/api/v1/privacy/held-data", json=identity).json()["consents"]
    assert consents[0]["withdrawn_at"] is not None
    refused = client.post("/api/v1/privacy/withdraw", json=identity | {"purpose": "booking"})
    assert refused.status_code == 422 and refused.json()["code"] == "withdraw_booking_means_erase"


def all_stored_text(database: Database, db_url: str) -> str:
    """Every value of every table as text (and, for SQLite, the raw file): what an intruder with
    a copy of the database would see."""
    chunks = []
    with database.read() as db:
        for table in Base.metadata.sorted_tables:
            for row in db.execute(table.select()):
                chunks.append(" ".join(str(value) for value in row))
    if db_url.startswith("sqlite:///"):
        chunks.append(Path(db_url.removeprefix("sqlite:///")).read_bytes().decode("latin-1"))
    return "\n".join(chunks)


def plain_forms(someone: dict[str, Any]) -> list[str]:
    year, month, day = someone["birth_date"].split("-")
    return [someone["cccd"], someone["phone"], someone["birth_date"], f"{day}/{month}/{year}"]


def test_erase_removes_personal_data_and_keeps_anonymous_counts(
    client: TestClient, world: World, database: Database, db_url: str, staff_token: Callable[..., dict[str, str]]
) -> None:
    commune = world.commune()
    session = world.session(world.site(commune["id"])["id"], capacity=1)
    someone, next_in_line = person(commune["id"]), person(commune["id"])
    mine = book(client, session["id"], someone, consent_notice="2026-01")
    waiting = book(client, session["id"], next_in_line)
    assert (mine["status"], waiting["status"]) == ("confirmed", "waitlisted")
    lookup(client, someone["cccd"], someone["birth_date"], consent_notice="2026-01")
    identity = {"cccd": someone["cccd"], "birth_date": someone["birth_date"], "chat_id": "me"}

    assert client.post("/api/v1/privacy/erase", json=identity | {"birth_date": "1958-03-06"}).json() == {
        "erased": False, "bookings_cancelled": 0, "bookings_anonymised": 0}
    erased = client.post("/api/v1/privacy/erase", json=identity)
    assert erased.json() == {"erased": True, "bookings_cancelled": 1, "bookings_anonymised": 1}

    # The seat went to the next person; the booking is an anonymous, cancelled count.
    assert client.get(f"/api/v1/bookings/{waiting['code']}").json()["status"] == "confirmed"
    gone = client.get(f"/api/v1/bookings/{mine['code']}").json()
    assert gone["status"] == "cancelled" and gone["resident"]["full_name"] == "(đã xóa theo yêu cầu)"
    assert client.post("/api/v1/privacy/held-data", json=identity).json()["found"] is False
    with database.read() as db:
        assert db.scalar(select(Resident).where(Resident.full_name == "Nông Thị Mai").limit(2)) is not None  # the other
        assert db.scalars(select(Consent)).all() == []
        actions = [row[0] for row in db.execute(text("SELECT action FROM audit_log"))]
    assert "privacy.erase" in actions
    stored = all_stored_text(database, db_url)
    for value in plain_forms(someone) + plain_forms(next_in_line):
        assert value not in stored
    # The person can book again afterwards, as a new resident.
    book(client, world.session(world.site(commune["id"])["id"], days=5)["id"], someone)
    roster = client.get(f"/api/v1/sessions/{session['id']}/bookings",
                        headers=staff_token("station", commune_id=commune["id"])).json()
    assert [item["code"] for item in roster["items"]] == [waiting["code"]]


def test_roster_export_is_masked_unless_asked_and_always_audited(
    client: TestClient, world: World, database: Database, staff_token: Callable[..., dict[str, str]]
) -> None:
    commune = world.commune()
    session = world.session(world.site(commune["id"])["id"])
    someone = person(commune["id"])
    book(client, session["id"], someone)
    station = staff_token("station", commune_id=commune["id"])
    masked = client.get(f"/api/v1/sessions/{session['id']}/bookings.csv", headers=station)
    assert masked.status_code == 200 and someone["phone"] not in masked.text and someone["cccd"] not in masked.text
    full = client.get(f"/api/v1/sessions/{session['id']}/bookings.csv?with_phone=true", headers=station)
    assert someone["phone"] in full.text and someone["cccd"] not in full.text
    other = staff_token("station", commune_id=world.commune("Yên Thịnh")["id"])
    assert client.get(f"/api/v1/sessions/{session['id']}/bookings.csv", headers=other).status_code == 403
    with database.read() as db:
        exports = db.execute(text("SELECT detail FROM audit_log WHERE action = 'roster.export'")).all()
    assert len(exports) == 2


def test_purge_erases_what_is_past_retention_and_old_replay_records(
    client: TestClient, world: World, database: Database, settings: Settings
) -> None:
    commune = world.commune()
    session = world.session(world.site(commune["id"])["id"])
    active, former = person(commune["id"]), person(commune["id"])
    book(client, session["id"], active)
    cancelled = book(client, session["id"], former)
    client.post(f"/api/v1/bookings/{cancelled['code']}/cancel")
    later = utcnow() + timedelta(days=settings.personal_data_retention_days + 1)
    with database.write() as db:
        purged = purge(db, settings, now=later)
    # The resident with a coming exam is kept whatever the dates; the other is erased (with its
    # replay record); the kept booking's replay record is past its own, short retention.
    assert (purged.residents, purged.idempotency_keys) == (1, 1)
    with database.write() as db:
        assert purge(db, settings, now=later).residents == 0  # idempotent
        assert len(db.scalars(select(Resident)).all()) == 1


def test_rotate_keys_keeps_everything_readable_under_the_new_key(
    client: TestClient, world: World, database: Database, settings: Settings, staff_token: Callable[..., dict[str, str]]
) -> None:
    commune = world.commune()
    session = world.session(world.site(commune["id"])["id"])
    someone = person(commune["id"])
    code = book(client, session["id"], someone, consent_notice="2026-01")["code"]
    import_csv(client, staff_token("station", commune_id=commune["id"]),
               f"cccd,ngay_sinh,trang_thai\n{someone['cccd']},{someone['birth_date']},created\n")

    rotated_settings = settings.model_copy(update={
        "secret_key": type(settings.secret_key)("a-brand-new-secret-0123456789abcdef"),
        "previous_secret_keys": settings.secret_key.get_secret_value() if settings.secret_key else ""})
    with database.write() as db:
        result = rotate_keys(db, Crypto.from_settings(rotated_settings), rotated_settings)
    assert (result.residents, result.records, result.consents) == (1, 1, 1)

    # Only the new key from now on: the old one is gone from the settings.
    new_only = rotated_settings.model_copy(update={"previous_secret_keys": ""})
    # The gateway signs chats with the new key too; the booking's chat fingerprint was keyed with the
    # old one, so its code now needs the second factor.
    new_chat = {HEADER: sign(chat_identity_key(b"a-brand-new-secret-0123456789abcdef"), channel="web",
                             sender="after-rotation", now=time.time())}
    headers = {"Authorization": f"Bearer {service_credential(database)}", **new_chat}
    with TestClient(create_app(new_only, database), raise_server_exceptions=False, headers=headers) as fresh:
        assert fresh.post(STATUS, json={"cccd": someone["cccd"], "birth_date": someone["birth_date"]}
                          ).json()["status"] == "created"
        assert fresh.get(f"/api/v1/bookings/{code}", headers={"X-Booking-Verifier": someone["phone"][-3:]}
                         ).json()["resident"]["phone_masked"].endswith(someone["phone"][-3:])
        held = fresh.post("/api/v1/privacy/held-data", json={"cccd": someone["cccd"],
                                                              "birth_date": someone["birth_date"]}).json()
        assert held["found"] and len(held["consents"]) == 1
    with database.read() as db:
        assert db.scalars(select(HealthRecord)).one().cccd_hash == Crypto.from_settings(new_only).lookup_hash(
            someone["cccd"])


def test_bad_identity_input_is_a_clear_4xx(client: TestClient) -> None:
    for body, code in [
        ({"cccd": "12", "birth_date": "1958-03-05"}, "invalid_cccd"),
        ({"cccd": "003058000001", "birth_date": "1970-03-05"}, "cccd_birth_date_mismatch"),
        ({"cccd": "003058000001", "birth_date": "2999-01-01"}, "validation_error"),
        ({"cccd": "003058000001"}, "validation_error"),
    ]:
        response = client.post(STATUS, json=body)
        assert response.status_code == 422 and response.json()["code"] == code, response.text
