"""Request-scoped dependencies, named so routes read as plain sentences.

The trivial ones are `async def` on purpose: FastAPI runs a sync dependency in the thread
pool, which would cost a thread hop on every request of the hot paths.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from api.communes.service import StationWithoutCommune
from api.core.clientaddr import real_client_address
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import Database
from api.core.errors import Forbidden, NotAuthenticated
from api.staff.models import StaffUser
from api.staff.security import TokenClaims, read_token
from api.staff.service import user_of_token


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_crypto(request: Request) -> Crypto:
    crypto: Crypto = request.app.state.crypto
    return crypto


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


DatabaseDep = Annotated[Database, Depends(get_database)]
CryptoDep = Annotated[Crypto, Depends(get_crypto)]


def gateway_only(crypto: CryptoDep, token: Annotated[str, Header(alias="X-Internal-Token")] = "") -> None:
    """The channel gateway's calls (referral events, the nearest sites to a shared location): its
    internal token, derived from the master secret, compared in constant time."""
    if not hmac.compare_digest(token, crypto.internal_token):
        raise NotAuthenticated("Chỉ cổng kênh chat được gọi địa chỉ này.")


GatewayOnly = Depends(gateway_only)
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def read_session(database: DatabaseDep) -> Iterator[Session]:
    with database.read() as session:
        yield session


ReadSession = Annotated[Session, Depends(read_session)]


async def client_address(request: Request) -> str:
    """The address limits count against: the peer, or what a trusted proxy says the client's is
    (a client's own X-Forwarded-For is ignored)."""
    settings: Settings = request.app.state.settings
    return real_client_address(request.client.host if request.client else None,
                               request.headers.get("x-forwarded-for"), settings.trusted_proxies)


ClientAddress = Annotated[str, Depends(client_address)]

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


@dataclass(frozen=True)
class StaffSession:
    user: StaffUser
    claims: TokenClaims


def staff_session(
    database: DatabaseDep, crypto: CryptoDep, token: Annotated[str | None, Depends(_bearer)]
) -> StaffSession:
    """A token we signed, unexpired, of an active account, not logged out, issued since the last
    password change."""
    if not token:
        raise NotAuthenticated()
    claims = read_token(key=crypto.token_key, token=token)
    if claims is None:
        raise NotAuthenticated("Phiên đăng nhập đã hết hạn hoặc không hợp lệ. Xin đăng nhập lại.")
    with database.read() as session:
        user = user_of_token(session, claims)
    return StaffSession(user, claims)


CurrentSession = Annotated[StaffSession, Depends(staff_session)]


async def current_staff(found: CurrentSession) -> StaffUser:
    # A station account without a commune would otherwise see every commune: it sees none.
    if found.user.role == "station" and found.user.commune_id is None:
        raise StationWithoutCommune()
    return found.user


CurrentStaff = Annotated[StaffUser, Depends(current_staff)]


def require_roles(*roles: str) -> Callable[[StaffUser], StaffUser]:
    def check(user: CurrentStaff) -> StaffUser:
        if user.role not in roles:
            raise Forbidden()
        return user

    return check


AdminUser = Annotated[StaffUser, Depends(require_roles("admin"))]
StationUser = Annotated[StaffUser, Depends(require_roles("admin", "station"))]
