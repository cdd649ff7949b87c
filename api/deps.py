"""Request-scoped dependencies, named so routes read as plain sentences.

The trivial ones are `async def` on purpose: FastAPI runs a sync dependency in the thread
pool, which would cost a thread hop on every request of the hot paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import Database
from api.core.errors import Forbidden, NotAuthenticated
from api.staff.models import StaffUser
from api.staff.security import read_token


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
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def read_session(database: DatabaseDep) -> Iterator[Session]:
    with database.read() as session:
        yield session


ReadSession = Annotated[Session, Depends(read_session)]

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def current_staff(
    database: DatabaseDep, crypto: CryptoDep, token: Annotated[str | None, Depends(_bearer)]
) -> StaffUser:
    if not token:
        raise NotAuthenticated()
    user_id = read_token(key=crypto.token_key, token=token)
    if user_id is None:
        raise NotAuthenticated("Phiên đăng nhập đã hết hạn hoặc không hợp lệ. Xin đăng nhập lại.")
    with database.read() as session:
        user = session.get(StaffUser, user_id)
    if user is None or not user.active:
        raise NotAuthenticated("Tài khoản không còn hoạt động.")
    return user


CurrentStaff = Annotated[StaffUser, Depends(current_staff)]


def require_roles(*roles: str) -> Callable[[StaffUser], StaffUser]:
    def check(user: CurrentStaff) -> StaffUser:
        if user.role not in roles:
            raise Forbidden()
        return user

    return check


AdminUser = Annotated[StaffUser, Depends(require_roles("admin"))]
StationUser = Annotated[StaffUser, Depends(require_roles("admin", "station"))]
