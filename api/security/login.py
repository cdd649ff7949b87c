"""Staff login as an attacker meets it: failures counted per typed username and per client address,
a lockout past either limit, the same work (one scrypt) for an unknown name and a wrong password,
and every attempt in the audit log — without the password, and with a failed username only as a
keyed hash (people type passwords into the username field).

An attempt is charged to both counters *before* the password is checked and refunded when it was
right: parallel guesses cannot slip past the limit, and no row stays locked while scrypt runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.audit.service import record
from api.communes.service import StationWithoutCommune
from api.core.clientaddr import address_bucket
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import Database, utcnow
from api.core.errors import InvalidCredentials
from api.security.limits import Escalation, Rule, count_failure, in_window, load_all, locked_until
from api.security.models import Throttle
from api.staff import totp
from api.staff.errors import (
    TooManyLoginAttempts,
    TotpInvalid,
    TotpRequired,
    TotpReused,
)
from api.staff.models import StaffUser
from api.staff.security import dummy_hash, verify_password
from api.staff.service import StaffNotFound, claim_totp_step
from common.errors import AppError

# The clock second-factor codes are read against (tests move it to step through code windows).
clock = time.time

# Refusals that come after the right password: the attempt was no guess, so it is refunded.
_PASSWORD_WAS_RIGHT = (TotpRequired, StationWithoutCommune)


@dataclass(frozen=True)
class Limits:
    rules: dict[str, Rule]
    escalation: Escalation


def limits_for(crypto: Crypto, settings: Settings, *, username: str, address: str) -> Limits:
    """The two counters an attempt is charged to, named by keyed hashes only."""
    user = crypto.lookup_hash("login-user|" + username.strip().casefold())[:40]
    addr = crypto.lookup_hash("login-addr|" + address_bucket(address))[:40]
    return Limits(
        rules={f"login-user:{user}": Rule.per_minutes(settings.login_user_failures, settings.login_user_window_minutes),
               f"login-addr:{addr}": Rule.per_minutes(settings.login_address_failures,
                                                     settings.login_address_window_minutes)},
        escalation=Escalation(timedelta(minutes=settings.login_lockout_minutes),
                              timedelta(minutes=settings.login_lockout_max_minutes)),
    )


def username_hash(crypto: Crypto, username: str) -> str:
    """How a typed username appears in the audit log when the login failed."""
    return crypto.lookup_hash("audit-username|" + username)[:16]


def address_hash(crypto: Crypto, address: str) -> str:
    return crypto.lookup_hash("audit-address|" + address)[:16]


def charge(database: Database, limits: Limits, now: datetime, on_locked: Callable[[Session], None]) -> set[str]:
    """Count the attempt as a failure on every counter, or refuse it (429) while one is locked.

    Returns the counters this attempt itself locked, so a refund can undo exactly that."""

    def attempt() -> datetime | set[str]:
        with database.write() as db:
            throttles = load_all(db, limits.rules, now)
            waits = [until for t in throttles.values() if (until := locked_until(t, now)) is not None]
            if waits:
                on_locked(db)
                return max(waits)
            return {s for s, t in throttles.items() if count_failure(t, limits.rules[s], limits.escalation, now)}

    try:
        outcome = attempt()
    except IntegrityError:
        # Two first attempts created a counter row at once (PostgreSQL): the retry counts on it.
        outcome = attempt()
    if isinstance(outcome, datetime):
        raise TooManyLoginAttempts(retry_after_seconds=max(1, int((outcome - now).total_seconds()) + 1))
    return outcome


def refund(db: Session, limits: Limits, locked_by_us: set[str], now: datetime) -> None:
    """Take back a charge: the attempt proved to be no guess."""
    for subject, throttle in load_all(db, limits.rules, now).items():
        if subject in locked_by_us:
            throttle.locked_until = None
            throttle.lockouts = max(throttle.lockouts - 1, 0)
        elif in_window(throttle, limits.rules[subject], now) > 0:
            throttle.attempts -= 1


@dataclass(frozen=True)
class Checked:
    user: StaffUser | None
    error: AppError | None
    step: int | None


def _check(database: Database, crypto: Crypto, *, username: str, password: str, code: str | None) -> Checked:
    with database.read() as db:
        user = db.scalar(select(StaffUser).where(StaffUser.username == username))
    # Always one scrypt: an unknown name costs what a wrong password costs.
    right = verify_password(password, user.password_hash if user else dummy_hash())
    if user is None or not right or not user.active:
        return Checked(user, InvalidCredentials(), None)
    if user.role == "station" and user.commune_id is None:
        return Checked(user, StationWithoutCommune(), None)
    if not user.totp_enabled:
        return Checked(user, None, None)
    if not code:
        return Checked(user, TotpRequired(), None)
    step = totp.matching_step(crypto.decrypt(user.totp_secret_enc or ""), code, clock())
    return Checked(user, None if step is not None else TotpInvalid(), step)


def log_in(
    *, database: Database, crypto: Crypto, settings: Settings, username: str, password: str, code: str | None,
    address: str, via: str,
) -> StaffUser:
    """The account, if the password (and second factor, once enrolled) is right; otherwise the
    refusal, counted and audited. `via` says which door: "api" or "studio"."""
    now = utcnow()
    limits = limits_for(crypto, settings, username=username, address=address)
    place = address_hash(crypto, address)

    def locked(db: Session) -> None:
        record(db, actor=None, actor_label="anonymous", action="staff.login", entity="staff", entity_id="-",
               outcome="locked", via=via, username_hash=username_hash(crypto, username), address_hash=place)

    locked_by_us = charge(database, limits, now, locked)
    checked = _check(database, crypto, username=username, password=password, code=code)
    user, error = checked.user, checked.error
    with database.write() as db:
        if error is None and checked.step is not None and user is not None and not claim_totp_step(
                db, user.id, checked.step):
            error = TotpReused()
        if error is None or isinstance(error, _PASSWORD_WAS_RIGHT):
            refund(db, limits, locked_by_us, now)
        if error is None:
            record(db, actor=user, action="staff.login", entity="staff", entity_id=user.id if user else "-",
                   outcome="success", via=via, address_hash=place)
        else:
            record(db, actor=None, actor_label="anonymous", action="staff.login", entity="staff",
                   entity_id=user.id if user else "-", outcome=error.code, via=via,
                   username_hash=username_hash(crypto, username), address_hash=place)
    if error is not None:
        raise error
    assert user is not None
    return user


def reconfirm(
    *, database: Database, crypto: Crypto, settings: Settings, user: StaffUser, address: str, action: str,
    passes: Callable[[Session, StaffUser], bool], wrong: AppError, then: Callable[[Session, StaffUser], None],
) -> None:
    """A password or code asked again of someone logged in (to change the password, or to confirm or
    remove the second factor): wrong answers count against the account like failed logins, so a
    stolen session cannot try them all. `then` makes the change in the same transaction."""
    now = utcnow()
    limits = limits_for(crypto, settings, username=user.username, address=address)

    def locked(db: Session) -> None:
        record(db, actor=user, action=action, entity="staff", entity_id=user.id, outcome="locked")

    locked_by_us = charge(database, limits, now, locked)
    with database.write() as db:
        fresh = db.get_one(StaffUser, user.id)
        right = passes(db, fresh)
        if right:
            refund(db, limits, locked_by_us, now)
            then(db, fresh)
        record(db, actor=user, action=action, entity="staff", entity_id=user.id,
               outcome="success" if right else wrong.code)
    if not right:
        raise wrong


def code_passes(crypto: Crypto, code: str) -> Callable[[Session, StaffUser], bool]:
    """A check for `reconfirm`: the code is current for the account's secret and not used before."""

    def passes(db: Session, user: StaffUser) -> bool:
        if not user.totp_secret_enc:
            return False
        step = totp.matching_step(crypto.decrypt(user.totp_secret_enc), code, clock())
        return step is not None and claim_totp_step(db, user.id, step)

    return passes


def unlock(db: Session, crypto: Crypto, settings: Settings, *, actor: StaffUser, user_id: int) -> None:
    """Lift the lockout of an account's username; the addresses that guessed stay locked."""
    user = db.get(StaffUser, user_id)
    if user is None:
        raise StaffNotFound()
    subjects = [s for s in limits_for(crypto, settings, username=user.username, address="").rules
                if s.startswith("login-user:")]
    db.execute(delete(Throttle).where(Throttle.subject.in_(subjects)))
    record(db, actor=actor, action="staff.unlock", entity="staff", entity_id=user.id)
