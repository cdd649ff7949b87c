"""Hundreds of truly parallel requests against the real server (two worker processes)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from api.bookings.models import Booking
from api.communes.models import Commune, Province, Site
from api.core.db import Database
from api.sessions.models import ExamSession
from tests.support.env import service_credential
from tests.support.servers import running_api
from tests.support.world import future, person

pytestmark = pytest.mark.slow

REQUESTS, SEATS = 240, 50


def make_session(database: Database, capacity: int) -> tuple[int, int]:
    with database.write() as db:
        province = Province(code="20", name="Lạng Sơn")
        commune = Commune(province=province, code="RACE", name="Mẫu Sơn", kind="xa",
                          search_key="mau son", compact_key="mauson")
        site = Site(commune=commune, name="Trạm Y tế xã Mẫu Sơn", kind="station")
        start = future(2)
        exam = ExamSession(site=site, starts_at=start, ends_at=start + timedelta(hours=4),
                           capacity=capacity, booked=0, waitlisted=0, target_groups=[], note="", status="open")
        db.add(exam)
        db.flush()
        return exam.id, commune.id


def fire(base: str, bodies: list[dict[str, Any]], keys: list[str | None], auth: dict[str, str]
         ) -> list[httpx.Response]:
    barrier = threading.Barrier(len(bodies))

    def one(index: int) -> httpx.Response:
        headers = {**auth, "Idempotency-Key": keys[index]} if keys[index] else dict(auth)
        with httpx.Client(base_url=base, timeout=60) as client:
            barrier.wait()
            return client.post("/api/v1/bookings", json=bodies[index], headers=headers)

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(one, range(len(bodies))))


def test_parallel_bookings_never_overbook(db_url: str, database: Database) -> None:
    session_id, commune_id = make_session(database, SEATS)
    auth = {"Authorization": f"Bearer {service_credential(database)}"}
    # No migration is needed for the copy: the server's own `migrate` finds it current.
    with running_api(db_url, workers=2) as base:
        bodies = [{"session_id": session_id, "resident": person(commune_id)} for _ in range(REQUESTS)]
        responses = fire(base, bodies, [None] * REQUESTS, auth)
        statuses = Counter(r.status_code for r in responses)
        assert statuses == {201: REQUESTS}, [r.text for r in responses if r.status_code != 201][:3]
        outcome = Counter(r.json()["status"] for r in responses)
        assert outcome == {"confirmed": SEATS, "waitlisted": REQUESTS - SEATS}
        positions = sorted(r.json()["waitlist_position"] for r in responses if r.json()["status"] == "waitlisted")
        assert positions == list(range(1, REQUESTS - SEATS + 1))

        session = httpx.get(f"{base}/api/v1/sessions/{session_id}").json()
        assert (session["booked"], session["waitlisted"], session["available"]) == (SEATS, REQUESTS - SEATS, 0)

        # Cancel 20 confirmed seats in parallel: exactly the first 20 waiting people move up.
        confirmed = [(r.json()["code"], body["resident"]["phone"]) for r, body in zip(responses, bodies, strict=True)
                     if r.json()["status"] == "confirmed"][:20]
        barrier = threading.Barrier(len(confirmed))

        def cancel(booking: tuple[str, str]) -> int:
            code, phone = booking
            with httpx.Client(base_url=base, timeout=60) as client:
                barrier.wait()
                return client.post(f"/api/v1/bookings/{code}/cancel",
                                   headers={**auth, "X-Booking-Verifier": phone[-3:]}).status_code

        with ThreadPoolExecutor(max_workers=len(confirmed)) as pool:
            assert set(pool.map(cancel, confirmed)) == {200}

    with database.read() as db:
        counts = dict(db.execute(
            select(Booking.status, func.count()).where(Booking.session_id == session_id).group_by(Booking.status)
        ).all())
        exam = db.get_one(ExamSession, session_id)
        first_waiting = db.scalars(
            select(Booking.status).where(Booking.session_id == session_id)
            .where(Booking.status != "cancelled").order_by(Booking.id)
        ).all()
    assert counts == {"confirmed": SEATS, "waitlisted": REQUESTS - SEATS - 20, "cancelled": 20}
    assert (exam.booked, exam.waitlisted) == (SEATS, REQUESTS - SEATS - 20)
    # Promotion is first come, first served: no confirmed booking after a waiting one.
    assert first_waiting == sorted(first_waiting)  # "confirmed" < "waitlisted"


def test_parallel_replays_of_one_key_make_one_booking(db_url: str, database: Database) -> None:
    session_id, commune_id = make_session(database, 5)
    body = {"session_id": session_id, "resident": person(commune_id)}
    auth = {"Authorization": f"Bearer {service_credential(database)}"}
    with running_api(db_url, workers=2) as base:
        responses = fire(base, [body] * 30, ["same-key-for-all-30"] * 30, auth)
        # A different person re-using the key must not get the first person's booking.
        stranger = httpx.post(f"{base}/api/v1/bookings", json={"session_id": session_id,
                                                                "resident": person(commune_id)},
                              headers={**auth, "Idempotency-Key": "same-key-for-all-30"})
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["code"] for r in responses}) == 1
    assert stranger.status_code == 422
    with database.read() as db:
        assert db.scalar(select(func.count()).select_from(Booking)) == 1
        assert db.get_one(ExamSession, session_id).booked == 1
