"""Hypothesis drives random sequences of book / cancel / reschedule / capacity changes through
the service layer and compares every step with a simple reference model of seats and FIFO
waitlists. Invariants: booked = confirmed <= capacity, nobody waits while a seat is free,
promotion is first come first served, and no resident holds two active bookings."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import delete, func, select

from api.bookings import service, session_changes
from api.bookings.models import Booking
from api.bookings.schemas import BookingCreate, ResidentIn
from api.communes.models import Commune, Province, Site
from api.core.clock import local_today
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import Database
from api.identity.service import Limits
from api.models import Base
from api.security.origin import Origin
from api.sessions.models import ExamSession
from api.sessions.schemas import SessionUpdate
from api.staff.models import StaffUser
from common.errors import AppError
from tests.support.world import future, person

RESIDENTS = 7


@dataclass
class ModelSession:
    capacity: int
    confirmed: list[str] = field(default_factory=list)
    queue: deque[str] = field(default_factory=deque)


class BookingMachine(RuleBasedStateMachine):
    def __init__(self, database: Database, crypto: Crypto) -> None:
        super().__init__()
        self.database, self.crypto = database, crypto
        # As our action server books without a chat (an outside check): no limit is near here.
        self.guard = service.Guard(origin=Origin(credential="tests", staff=None, chat=None),
                                   identity=Limits.from_settings(Settings()), burst_per_minute=10_000)
        with database.write() as db:
            for table in reversed(Base.metadata.sorted_tables):
                db.execute(delete(table))
            commune = Commune(province=Province(code="20", name="Lạng Sơn"), code="HYP", name="Mẫu Sơn",
                              kind="xa", search_key="mau son", compact_key="mauson")
            self.site = Site(commune=commune, name="Trạm", kind="station")
            self.actor = StaffUser(username="hyp-admin", password_hash="!", role="admin")
            db.add_all([self.site, self.actor])
            db.flush()
            self.commune_id = commune.id
        self.sessions: dict[int, ModelSession] = {}
        self.owner: dict[str, int] = {}  # booking code -> resident index
        self.location: dict[str, int] = {}  # active booking code -> session id
        self.add_session(1)

    def active_code_of(self, resident: int) -> str | None:
        return next((c for c, r in self.owner.items() if r == resident and c in self.location), None)

    # Few small sessions, so waitlists, promotions and full targets happen often.
    @precondition(lambda self: len(self.sessions) < 3)
    @rule(capacity=st.integers(min_value=0, max_value=2))
    def add_session(self, capacity: int) -> None:
        with self.database.write() as db:
            start = future(2 + len(self.sessions))
            exam = ExamSession(site_id=self.site.id, starts_at=start, ends_at=start + timedelta(hours=3),
                               capacity=capacity, booked=0, waitlisted=0, target_groups=[], note="", status="open")
            db.add(exam)
            db.flush()
            self.sessions[exam.id] = ModelSession(capacity)

    @precondition(lambda self: self.sessions)
    @rule(resident=st.integers(0, RESIDENTS - 1), pick=st.integers(0, 100))
    def book(self, resident: int, pick: int) -> None:
        sid = sorted(self.sessions)[pick % len(self.sessions)]
        body = BookingCreate(session_id=sid, resident=ResidentIn(**person(self.commune_id, index=resident)))
        try:
            with self.database.write() as db:
                result = service.book(db=db, crypto=self.crypto, body=body, idempotency_key=None, today=local_today(),
                                      guard=self.guard)
                code, status = result.out.code, result.out.status
        except service.ActiveBookingExists:
            assert self.active_code_of(resident) is not None
            return
        assert self.active_code_of(resident) is None
        model = self.sessions[sid]
        expected = "confirmed" if len(model.confirmed) < model.capacity else "waitlisted"
        assert status == expected
        (model.confirmed.append if status == "confirmed" else model.queue.append)(code)
        self.owner[code], self.location[code] = resident, sid

    def _vacate(self, code: str) -> None:
        model = self.sessions[self.location.pop(code)]
        if code in model.confirmed:
            model.confirmed.remove(code)
            if model.queue:
                model.confirmed.append(model.queue.popleft())
        else:
            model.queue.remove(code)

    @precondition(lambda self: self.owner)
    @rule(pick=st.integers(0, 1000), only_active=st.booleans())
    def cancel(self, pick: int, only_active: bool) -> None:
        pool = sorted(self.location if only_active and self.location else self.owner)
        code = pool[pick % len(pool)]
        try:
            with self.database.write() as db:
                service.cancel(db=db, code=code)
        except service.BookingNotActive:
            assert code not in self.location
            return
        self._vacate(code)

    @precondition(lambda self: self.owner and len(self.sessions) > 1)
    @rule(pick=st.integers(0, 1000), target_pick=st.integers(0, 100))
    def reschedule(self, pick: int, target_pick: int) -> None:
        code = sorted(self.owner)[pick % len(self.owner)]
        target = sorted(self.sessions)[target_pick % len(self.sessions)]
        try:
            with self.database.write() as db:
                service.reschedule(db=db, code=code, session_id=target)
        except AppError as error:
            if isinstance(error, service.SameSession):
                assert self.location.get(code, self._last_session(code)) == target
            elif isinstance(error, service.BookingNotActive):
                assert code not in self.location
            else:
                assert isinstance(error, service.SessionFull)
                assert len(self.sessions[target].confirmed) >= self.sessions[target].capacity
            return
        assert code in self.location and self.location[code] != target
        assert len(self.sessions[target].confirmed) < self.sessions[target].capacity
        self._vacate(code)
        self.sessions[target].confirmed.append(code)
        self.location[code] = target

    def _last_session(self, code: str) -> int:
        with self.database.read() as db:
            return int(db.scalar(select(Booking.session_id).where(Booking.code == code)) or 0)

    @precondition(lambda self: self.sessions)
    @rule(pick=st.integers(0, 100), capacity=st.integers(0, 5))
    def set_capacity(self, pick: int, capacity: int) -> None:
        sid = sorted(self.sessions)[pick % len(self.sessions)]
        model = self.sessions[sid]
        try:
            with self.database.write() as db:
                session_changes.update_session(db=db, actor=self.actor, session_id=sid,
                                               changes=SessionUpdate(capacity=capacity))
        except session_changes.CapacityBelowBooked:
            assert capacity < len(model.confirmed)
            return
        model.capacity = capacity
        while model.queue and len(model.confirmed) < capacity:
            model.confirmed.append(model.queue.popleft())

    @invariant()
    def database_matches_model(self) -> None:
        with self.database.read() as db:
            rows = db.execute(select(Booking.code, Booking.session_id, Booking.status).order_by(Booking.id)).all()
            exams = {e.id: e for e in db.scalars(select(ExamSession))}
            per_resident = db.execute(
                select(Booking.resident_id, func.count()).where(Booking.status.in_(["confirmed", "waitlisted"]))
                .group_by(Booking.resident_id)
            ).all()
        assert all(count == 1 for _, count in per_resident)
        for sid, model in self.sessions.items():
            exam = exams[sid]
            confirmed = {code for code, s, status in rows if s == sid and status == "confirmed"}
            waiting = [code for code, s, status in rows if s == sid and status == "waitlisted"]
            assert confirmed == set(model.confirmed)
            assert waiting == list(model.queue)  # FIFO order by booking id
            assert exam.booked == len(confirmed) <= exam.capacity
            assert exam.waitlisted == len(waiting)
            assert not waiting or exam.booked == exam.capacity


@pytest.mark.slow
def test_booking_rules_hold_under_random_operations(database: Database, settings_for_machine: Settings) -> None:
    crypto = Crypto.from_settings(settings_for_machine)
    run_state_machine_as_test(
        lambda: BookingMachine(database, crypto),
        settings=settings(max_examples=60, stateful_step_count=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow]),
    )


@pytest.fixture
def settings_for_machine(settings: Settings) -> Settings:
    return settings
