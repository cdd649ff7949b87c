"""The base of the one error tree: every failure a caller can cause has a stable machine `code`, a
Vietnamese `message`, and the HTTP status the API answers it with.

The API builds its own errors on `AppError` (api.core.errors) and one handler turns every one into
`{code, message, details}` for its clients. A resident reads an error by its code: the actions say the
keyed text `error_<code>` (or `error_<code>_<reason>`, bot/texts/errors.yml) that staff can edit, the
message being only the fallback; the bot's forms catch `InvalidInput` from `common.identity` alike.
"""

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


class InvalidInput(AppError):
    status_code = 422
    code = "validation_error"
    message = "Thông tin gửi lên chưa đúng. Xin kiểm tra lại."
