"""Service credentials: what our own action server (and outside checks acting as it) shows the API.

`python -m api create-service-credential --name N` prints one; only its SHA-256 is stored. The
API looks a credential up at most every few seconds per process, so a revoked one stops working
within `CACHE_S` and a booking burst does not pay a database read per request.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.core.db import Database, utcnow
from api.security.models import ServiceCredential

PREFIX = "ksk_svc_"
CACHE_S = 5.0


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_credential(token: str) -> bool:
    return token.startswith(PREFIX) and 40 <= len(token) <= 120


def create(db: Session, *, name: str, replace: bool = False, secret: str | None = None) -> str:
    """A new credential for `name`; with `replace`, earlier credentials of that name stop working.

    `secret`: register this one instead (generated outside, e.g. a Kubernetes Secret that the action
    server and Rasa read too); registering it again, as every deployment's init step does, keeps it
    active and revokes the name's others (with `replace`)."""
    if secret is not None and not looks_like_credential(secret):
        raise ValueError(f"a service credential starts with {PREFIX} and has 40 to 120 characters")
    secret = secret or PREFIX + secrets.token_urlsafe(32)
    digest = secret_hash(secret)
    if replace:
        db.execute(update(ServiceCredential).where(ServiceCredential.name == name, ServiceCredential.active,
                                                   ServiceCredential.secret_hash != digest)
                   .values(active=False, revoked_at=utcnow()))
    known = db.scalar(select(ServiceCredential).where(ServiceCredential.secret_hash == digest))
    if known is not None:
        if known.name != name:
            raise ValueError(f"this credential is registered under another name ({known.name})")
        known.active, known.revoked_at = True, None
        return secret
    db.add(ServiceCredential(name=name, secret_hash=digest, active=True))
    db.flush()
    return secret


def revoke(db: Session, *, name: str) -> int:
    result = db.execute(update(ServiceCredential).where(ServiceCredential.name == name, ServiceCredential.active)
                        .values(active=False, revoked_at=utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


class CredentialCache:
    """credential hash → name (or None for unknown/revoked), remembered for CACHE_S seconds."""

    def __init__(self, ttl_s: float = CACHE_S) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()

    def name_for(self, database: Database, secret: str) -> str | None:
        if not looks_like_credential(secret):
            return None
        digest, now = secret_hash(secret), time.monotonic()
        with self._lock:
            cached = self._entries.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        with database.read() as db:
            name = db.scalar(select(ServiceCredential.name).where(
                ServiceCredential.secret_hash == digest, ServiceCredential.active))
        with self._lock:
            if len(self._entries) > 10_000:  # guessed credentials must not grow memory without bound
                self._entries.clear()
            self._entries[digest] = (name, now + self.ttl_s)
        return name
