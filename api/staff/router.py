from __future__ import annotations

from typing import Annotated, Any

import segno
from fastapi import APIRouter, Depends, Form, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.core.types import IdInPath
from api.deps import (
    AdminUser,
    ClientAddress,
    CryptoDep,
    CurrentSession,
    CurrentStaff,
    DatabaseDep,
    ReadSession,
    SettingsDep,
)
from api.security import login as logins
from api.staff import service
from api.staff.errors import TotpAlreadyEnabled, TotpCodeWrong, TotpNotEnabled, TotpNotSetUp, WrongCurrentPassword
from api.staff.models import StaffUser
from api.staff.schemas import (
    PasswordChange,
    StaffCreate,
    StaffList,
    StaffOut,
    StaffUpdate,
    TokenOut,
    TotpCodeIn,
    TotpSetupOut,
    TotpStatus,
)
from api.staff.security import issue_token, verify_password

router = APIRouter(tags=["staff"])

_THROTTLED: dict[int | str, dict[str, Any]] = {
    429: {"description": "đăng nhập sai quá nhiều lần, tạm khóa (xem Retry-After)"}}


def _token_for(user: StaffUser, crypto: CryptoDep, settings: SettingsDep) -> TokenOut:
    token = issue_token(key=crypto.token_key, user_id=user.id, role=user.role, version=user.token_version,
                        minutes=settings.access_token_minutes)
    return TokenOut(access_token=token, role=user.role)


@router.post("/auth/token", response_model=TokenOut, responses=_THROTTLED)
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], database: DatabaseDep, crypto: CryptoDep,
    settings: SettingsDep, address: ClientAddress,
    totp: Annotated[str | None, Form(max_length=16, description="mã 6 số của ứng dụng xác thực, khi đã bật")] = None,
) -> TokenOut:
    """Staff login. Failures count per username and per client address; once the second factor is on,
    the code goes in `totp` (or `client_secret`, for OAuth2 clients that have no other field)."""
    user = logins.log_in(database=database, crypto=crypto, settings=settings, username=form.username,
                         password=form.password, code=totp or form.client_secret, address=address, via="api")
    return _token_for(user, crypto, settings)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(found: CurrentSession, database: DatabaseDep) -> Response:
    """Ends this token now (other sessions of the account stay)."""
    with database.write() as db:
        service.revoke_token(db, found.user, found.claims)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/auth/me", response_model=StaffOut)
def me(user: CurrentStaff) -> StaffUser:
    return user


@router.post("/auth/password", response_model=TokenOut, responses=_THROTTLED)
def change_password(
    body: PasswordChange, user: CurrentStaff, database: DatabaseDep, crypto: CryptoDep, settings: SettingsDep,
    address: ClientAddress,
) -> TokenOut:
    """A new password for oneself: every session of the account ends, and a new token comes back."""
    changed: list[StaffUser] = []

    def then(db: Session, fresh: StaffUser) -> None:
        service.set_password(db, fresh, body.new_password)
        changed.append(fresh)

    logins.reconfirm(database=database, crypto=crypto, settings=settings, user=user, address=address,
                     action="staff.password", wrong=WrongCurrentPassword(),
                     passes=lambda _db, fresh: verify_password(body.current_password, fresh.password_hash), then=then)
    return _token_for(changed[0], crypto, settings)


# --- second factor -----------------------------------------------------------------------------------

@router.post("/auth/totp/setup", response_model=TotpSetupOut)
def totp_setup(user: CurrentStaff, database: DatabaseDep, crypto: CryptoDep, settings: SettingsDep) -> TotpSetupOut:
    """A new secret for an authenticator app; logins ask for codes only after `/auth/totp/confirm`."""
    with database.write() as db:
        secret, uri = service.start_totp(db, crypto, user, settings.totp_issuer)
    return TotpSetupOut(secret=secret, otpauth_uri=uri, qr_svg=segno.make(uri, error="m").svg_inline(scale=4))


@router.post("/auth/totp/confirm", response_model=TotpStatus, responses=_THROTTLED)
def totp_confirm(
    body: TotpCodeIn, user: CurrentStaff, database: DatabaseDep, crypto: CryptoDep, settings: SettingsDep,
    address: ClientAddress,
) -> TotpStatus:
    with database.read() as db:
        fresh = db.get_one(StaffUser, user.id)
    if fresh.totp_enabled:
        raise TotpAlreadyEnabled()
    if not fresh.totp_secret_enc:
        raise TotpNotSetUp()

    def enable(_db: Session, account: StaffUser) -> None:
        account.totp_enabled = True

    logins.reconfirm(database=database, crypto=crypto, settings=settings, user=user, address=address,
                     action="staff.totp_enable", passes=logins.code_passes(crypto, body.code), wrong=TotpCodeWrong(),
                     then=enable)
    return TotpStatus(totp_enabled=True)


@router.delete("/auth/totp", response_model=TotpStatus, responses=_THROTTLED)
def totp_remove(
    body: TotpCodeIn, user: CurrentStaff, database: DatabaseDep, crypto: CryptoDep, settings: SettingsDep,
    address: ClientAddress,
) -> TotpStatus:
    """Turning the second factor off needs a current code: a stolen session alone cannot."""
    if not user.totp_enabled:
        raise TotpNotEnabled()

    def disable(_db: Session, account: StaffUser) -> None:
        account.totp_enabled, account.totp_secret_enc = False, None

    logins.reconfirm(database=database, crypto=crypto, settings=settings, user=user, address=address,
                     action="staff.totp_disable", passes=logins.code_passes(crypto, body.code), wrong=TotpCodeWrong(),
                     then=disable)
    return TotpStatus(totp_enabled=False)


# --- accounts (admin) ---------------------------------------------------------------------------------

@router.get("/staff", response_model=StaffList)
def list_staff(_admin: AdminUser, db: ReadSession) -> StaffList:
    users = db.scalars(select(StaffUser).order_by(StaffUser.username)).all()
    return StaffList(items=[StaffOut.model_validate(u) for u in users])


@router.post("/staff", response_model=StaffOut, status_code=status.HTTP_201_CREATED)
def create_staff(body: StaffCreate, admin: AdminUser, database: DatabaseDep) -> StaffUser:
    with database.write() as db:
        return service.create_staff(db=db, actor=admin, **body.model_dump())


@router.patch("/staff/{user_id}", response_model=StaffOut)
def update_staff(user_id: IdInPath, body: StaffUpdate, admin: AdminUser, database: DatabaseDep) -> StaffUser:
    with database.write() as db:
        return service.update_staff(db=db, actor=admin, user_id=user_id, changes=body)


@router.post("/staff/{user_id}/unlock", status_code=status.HTTP_204_NO_CONTENT)
def unlock_staff(user_id: IdInPath, admin: AdminUser, database: DatabaseDep, crypto: CryptoDep,
                 settings: SettingsDep) -> Response:
    """Lifts a login lockout on the account's username (someone else's failed guesses kept them out)."""
    with database.write() as db:
        logins.unlock(db, crypto, settings, actor=admin, user_id=user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
