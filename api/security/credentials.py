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
    server and Rasa read too). Registering it again, as every deployment's init step does, changes
    nothing; a revoked one is refused, never brought back: a leaked credential stays revoked, and a pod of
    the previous rollout restarting with the old Secret cannot revoke the new credential."""
    if secret is not None and not looks_like_credential(secret):
        raise ValueError(f"khóa dịch vụ bắt đầu bằng {PREFIX} và dài 40 đến 120 ký tự")
    secret = secret or PREFIX + secrets.token_urlsafe(32)
    digest = secret_hash(secret)
    known = db.scalar(select(ServiceCredential).where(ServiceCredential.secret_hash == digest))
    if known is not None and known.name != name:
        raise ValueError(f"khóa này đã đăng ký dưới tên khác ({known.name})")
    if known is not None and not known.active:
        raise ValueError("khóa này đã bị thu hồi: hãy đặt một khóa mới vào Secret")
    if replace:
        db.execute(update(ServiceCredential).where(ServiceCredential.name == name, ServiceCredential.active,
                                                   ServiceCredential.secret_hash != digest)
                   .values(active=False, revoked_at=utcnow()))
    if known is None:
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
