"""Password hashing (scrypt from the standard library) and signed staff tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import jwt

from api.core.db import utcnow

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt_b64), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


@lru_cache
def dummy_hash() -> str:
    """Checked against when the username does not exist, so both cases cost the same time."""
    return hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    # The account's token_version when issued: a new password raises it and ends the token.
    version: int
    # This token's own id, so logging out ends it alone.
    jti: str
    expires_at: datetime


def issue_token(*, key: bytes, user_id: int, role: str, version: int, minutes: int) -> str:
    now = utcnow()
    claims = {"sub": str(user_id), "role": role, "ver": version, "jti": secrets.token_urlsafe(12),
              "iat": now, "exp": now + timedelta(minutes=minutes)}
    return jwt.encode(claims, key, algorithm="HS256")


def read_token(*, key: bytes, token: str) -> TokenClaims | None:
    """The claims of a token we signed that has not expired; tokens from before revocation
    existed (no `ver` or `jti`) are not accepted."""
    try:
        claims = jwt.decode(token, key, algorithms=["HS256"],
                            options={"require": ["exp", "sub", "ver", "jti"]})
        return TokenClaims(user_id=int(claims["sub"]), version=int(claims["ver"]), jti=str(claims["jti"])[:32],
                           expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=UTC))
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
