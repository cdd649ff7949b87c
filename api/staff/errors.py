"""Errors of staff accounts that other domains raise too (a station without a commune is refused by the
station scope, in api.communes.service)."""

from __future__ import annotations

from api.core.errors import Conflict, NotAuthenticated
from common.errors import AppError, InvalidInput


class StationCommuneRequired(InvalidInput):
    code = "station_commune_required"
    message = "Tài khoản trạm y tế phải gắn với một xã/phường (commune_id)."


class SessionEnded(NotAuthenticated):
    code = "session_ended"
    message = "Phiên đăng nhập đã kết thúc (đã đăng xuất hoặc đổi mật khẩu). Xin đăng nhập lại."


class TooManyLoginAttempts(AppError):
    status_code = 429
    code = "too_many_login_attempts"
    message = "Đăng nhập sai quá nhiều lần. Xin chờ một lúc rồi thử lại, hoặc liên hệ quản trị viên."


class TotpRequired(NotAuthenticated):
    code = "totp_required"
    message = "Tài khoản này cần mã xác thực 6 số từ ứng dụng trên điện thoại."


class TotpInvalid(NotAuthenticated):
    code = "totp_invalid"
    message = "Mã xác thực không đúng hoặc đã hết hạn."


class TotpReused(NotAuthenticated):
    code = "totp_reused"
    message = "Mã xác thực này đã được dùng. Xin chờ mã mới trên điện thoại."


class TotpCodeWrong(InvalidInput):
    code = "totp_code_wrong"
    message = "Mã xác thực không đúng, đã hết hạn hoặc đã được dùng. Xin nhập mã đang hiện trên điện thoại."


class TotpAlreadyEnabled(Conflict):
    code = "totp_already_enabled"
    message = "Tài khoản đã bật mã xác thực. Muốn đổi điện thoại, hãy tắt rồi bật lại."


class TotpNotSetUp(Conflict):
    code = "totp_not_set_up"
    message = "Chưa tạo mã bí mật cho ứng dụng xác thực. Xin bắt đầu lại từ bước cài đặt."


class TotpNotEnabled(Conflict):
    code = "totp_not_enabled"
    message = "Tài khoản chưa bật mã xác thực."


class WrongCurrentPassword(InvalidInput):
    code = "wrong_current_password"
    message = "Mật khẩu hiện tại không đúng."
