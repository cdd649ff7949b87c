"""One error tree: every failure a client can cause has a stable code and a Vietnamese message.

Its base, `AppError`, and `InvalidInput` live in the shared kernel (common.errors), because the
resident checks both runtimes share (common.identity) raise them; the API's own errors are below.
"""

from __future__ import annotations

from common.errors import AppError


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "Không tìm thấy nội dung yêu cầu."


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    message = "Yêu cầu xung đột với dữ liệu hiện có."


class MalformedJSON(AppError):
    status_code = 400
    code = "malformed_json"
    message = "Dữ liệu gửi lên không phải JSON hợp lệ."


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"
    message = "Dữ liệu gửi lên quá lớn."


class NotAuthenticated(AppError):
    status_code = 401
    code = "not_authenticated"
    message = "Anh/chị cần đăng nhập để dùng chức năng này."


class InvalidCredentials(NotAuthenticated):
    code = "invalid_credentials"
    message = "Tên đăng nhập hoặc mật khẩu không đúng."


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    message = "Tài khoản của anh/chị không có quyền thực hiện việc này."


class ServiceBusy(AppError):
    status_code = 503
    code = "service_busy"
    message = "Hệ thống đang bận, xin thử lại sau ít phút."
