from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit.service import record
from api.communes.service import get_commune
from api.core.errors import Conflict, InvalidCredentials, InvalidInput, NotFound
from api.staff.models import ROLES, StaffUser
from api.staff.schemas import StaffUpdate
from api.staff.security import dummy_hash, hash_password, verify_password


class UsernameTaken(Conflict):
    code = "username_taken"
    message = "Tên đăng nhập này đã có người dùng."


class StaffNotFound(NotFound):
    code = "staff_not_found"
    message = "Không tìm thấy tài khoản cán bộ."


class WeakPassword(InvalidInput):
    code = "weak_password"
    message = "Mật khẩu cần ít nhất 8 ký tự."


def _check_commune(db: Session, commune_id: int | None) -> None:
    if commune_id is not None:
        get_commune(db, commune_id)


def create_staff(
    *, db: Session, actor: StaffUser | None, username: str, password: str, role: str,
    full_name: str = "", commune_id: int | None = None,
) -> StaffUser:
    if role not in ROLES:
        raise InvalidInput("Vai trò không hợp lệ.", allowed=list(ROLES))
    if len(password) < 8:
        raise WeakPassword()
    if db.scalar(select(StaffUser.id).where(StaffUser.username == username)) is not None:
        raise UsernameTaken()
    _check_commune(db, commune_id)
    user = StaffUser(
        username=username, password_hash=hash_password(password), role=role,
        full_name=full_name, commune_id=commune_id,
    )
    db.add(user)
    db.flush()
    record(db, actor=actor, action="staff.create", entity="staff", entity_id=user.id, role=role)
    return user


def update_staff(*, db: Session, actor: StaffUser, user_id: int, changes: StaffUpdate) -> StaffUser:
    user = db.get(StaffUser, user_id)
    if user is None:
        raise StaffNotFound()
    fields = changes.model_dump(exclude_unset=True)
    if "commune_id" in fields:
        _check_commune(db, fields["commune_id"])
    password = fields.pop("password", None)
    if password is not None:
        user.password_hash = hash_password(password)
    for name, value in fields.items():
        if value is not None or name == "commune_id":
            setattr(user, name, value)
    # The audit names what changed, never the password itself.
    changed = sorted([*fields, *(["password"] if password else [])])
    record(db, actor=actor, action="staff.update", entity="staff", entity_id=user.id, fields=changed)
    return user


def authenticate(*, db: Session, username: str, password: str) -> StaffUser:
    user = db.scalar(select(StaffUser).where(StaffUser.username == username))
    if user is None:
        verify_password(password, dummy_hash())
        raise InvalidCredentials()
    if not verify_password(password, user.password_hash) or not user.active:
        raise InvalidCredentials()
    return user
