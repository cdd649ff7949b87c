"""One error tree: every failure a client can cause has a stable code and a Vietnamese message."""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    message: ClassVar[str] = "Yêu cầu không hợp lệ."

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.detail_message = message or self.message
        self.details = details
        super().__init__(self.detail_message)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.detail_message}
        if self.details:
            body["details"] = self.details
        return body


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "Không tìm thấy nội dung yêu cầu."


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    message = "Yêu cầu xung đột với dữ liệu hiện có."


class InvalidInput(AppError):
    status_code = 422
    code = "validation_error"
    message = "Thông tin gửi lên chưa đúng. Xin kiểm tra lại."


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
