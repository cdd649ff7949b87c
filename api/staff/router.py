from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select

from api.core.types import IdInPath
from api.deps import AdminUser, CryptoDep, CurrentStaff, DatabaseDep, ReadSession, SettingsDep
from api.staff import service
from api.staff.models import StaffUser
from api.staff.schemas import StaffCreate, StaffList, StaffOut, StaffUpdate, TokenOut
from api.staff.security import issue_token

router = APIRouter(tags=["staff"])


@router.post("/auth/token", response_model=TokenOut)
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], db: ReadSession,
    crypto: CryptoDep, settings: SettingsDep,
) -> TokenOut:
    user = service.authenticate(db=db, username=form.username, password=form.password)
    token = issue_token(
        key=crypto.token_key, user_id=user.id, role=user.role, minutes=settings.access_token_minutes
    )
    return TokenOut(access_token=token, role=user.role)


@router.get("/auth/me", response_model=StaffOut)
def me(user: CurrentStaff) -> StaffUser:
    return user


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
