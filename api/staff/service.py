from __future__ import annotations

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from api.audit.service import record
from api.communes.service import get_commune
from api.core.crypto import Crypto
from api.core.db import utcnow
from api.core.errors import Conflict, NotAuthenticated, NotFound
from api.staff import totp
from api.staff.errors import SessionEnded, StationCommuneRequired, TotpAlreadyEnabled
from api.staff.models import ROLES, RevokedToken, StaffUser
from api.staff.schemas import StaffUpdate
from api.staff.security import TokenClaims, hash_password
from common.errors import InvalidInput


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


def _check_station_has_commune(role: str, commune_id: int | None, active: bool) -> None:
    # A deactivated account may stay as it is: refusing would keep an admin from switching it off.
    if role == "station" and commune_id is None and active:
        raise StationCommuneRequired()


def create_staff(
    *, db: Session, actor: StaffUser | None, username: str, password: str, role: str,
    full_name: str = "", commune_id: int | None = None,
) -> StaffUser:
    if role not in ROLES:
        raise InvalidInput("Vai trò không hợp lệ.", allowed=list(ROLES))
    if len(password) < 8:
        raise WeakPassword()
    _check_station_has_commune(role, commune_id, active=True)
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
    password = fields.pop("password", None)
    remove_totp = fields.pop("totp_enabled", None) is False
    _check_station_has_commune(
        fields.get("role") or user.role,
        fields.get("commune_id", user.commune_id),
        user.active if fields.get("active") is None else fields["active"],
    )
    if "commune_id" in fields:
        _check_commune(db, fields["commune_id"])
    if password is not None:
        user.password_hash = hash_password(password)
        # A reset password ends every session of the account, a thief's included.
        user.token_version += 1
    if remove_totp:
        # The staff member lost their phone: they log in with the password and enrol again.
        user.totp_enabled, user.totp_secret_enc = False, None
    for name, value in fields.items():
        if value is not None or name == "commune_id":
            setattr(user, name, value)
    # The audit names what changed, never the password itself.
    changed = sorted([*fields, *(["password"] if password else []), *(["totp"] if remove_totp else [])])
    record(db, actor=actor, action="staff.update", entity="staff", entity_id=user.id, fields=changed)
    return user


def set_password(db: Session, user: StaffUser, password: str) -> None:
    """The staff member's own new password; every other session of theirs ends."""
    if len(password) < 8:
        raise WeakPassword()
    user.password_hash = hash_password(password)
    user.token_version += 1
    db.flush()


# --- sessions ---------------------------------------------------------------------------------------

def user_of_token(db: Session, claims: TokenClaims) -> StaffUser:
    """The account a valid token belongs to, unless it was deactivated, its password changed since,
    or this token was logged out."""
    user = db.get(StaffUser, claims.user_id)
    if user is None or not user.active:
        raise NotAuthenticated("Tài khoản không còn hoạt động.")
    if user.token_version != claims.version or db.get(RevokedToken, claims.jti) is not None:
        raise SessionEnded()
    return user


def revoke_token(db: Session, user: StaffUser, claims: TokenClaims) -> None:
    """Logging out: this token ends now; the list keeps it only until it would have expired anyway."""
    now = utcnow()
    db.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
    if db.get(RevokedToken, claims.jti) is None:
        db.add(RevokedToken(jti=claims.jti, user_id=user.id, expires_at=claims.expires_at))
    record(db, actor=user, action="staff.logout", entity="staff", entity_id=user.id)


# --- second factor -----------------------------------------------------------------------------------

def claim_totp_step(db: Session, user_id: int, step: int) -> bool:
    """Accept a code's time step at most once, and never one older than the last accepted: one
    conditional UPDATE, so two requests carrying the same code cannot both pass."""
    claimed = db.scalar(
        update(StaffUser)
        .where(StaffUser.id == user_id, or_(StaffUser.totp_last_step.is_(None), StaffUser.totp_last_step < step))
        .values(totp_last_step=step)
        .returning(StaffUser.id)
        .execution_options(synchronize_session=False)
    )
    return claimed is not None


def start_totp(db: Session, crypto: Crypto, user: StaffUser, issuer: str) -> tuple[str, str]:
    """A new secret for the authenticator app, waiting for a first code to confirm it."""
    fresh = db.get_one(StaffUser, user.id)
    if fresh.totp_enabled:
        raise TotpAlreadyEnabled()
    secret = totp.new_secret()
    fresh.totp_secret_enc = crypto.encrypt(secret)
    record(db, actor=user, action="staff.totp_setup", entity="staff", entity_id=user.id)
    return secret, totp.provisioning_uri(secret, account=user.username, issuer=issuer)
