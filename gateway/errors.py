"""What the gateway refuses, on the one error tree (common.errors, api.core.errors): each refusal has a
stable `code` and HTTP status (gateway.app installs the one handler).

A refusal a resident reads has a content key (`text_key`), answered in the content store's words in
their language; the others only reach Telegram's and Zalo's servers, the API or an operator, and keep a
message marked for the catalogs."""

from __future__ import annotations

from typing import ClassVar

from api.core.errors import Conflict, Forbidden, NotAuthenticated, NotFound
from api.core.i18n import N_
from common.errors import AppError, InvalidInput


class UnreadableMessage(InvalidInput):
    """A web chat message that is empty, too long or not the page's shape: the chat shows the refusal."""

    text_key: ClassVar[str] = "gateway_message_invalid"


class Malformed(AppError):
    """A genuine webhook whose body is not the shape the platform documents: 400, never 500."""

    code = "malformed"
    message = N_("Dữ liệu không hợp lệ.")


class AssetNotFound(NotFound):
    message = N_("Không tìm thấy.")


class WrongInternalToken(NotAuthenticated):
    message = N_("Sai mã nội bộ.")


class BadSignature(NotAuthenticated):
    code = "bad_signature"
    message = N_("Chữ ký không hợp lệ.")


class WrongWebhookSecret(Forbidden):
    message = N_("Sai mã bí mật webhook.")


class ChannelOff(NotFound):
    """A channel without credentials; the web chat only answers, so nothing can be sent through it."""

    code = "channel_off"
    message = N_("Kênh này chưa bật hoặc không gửi được tin chủ động.")


class TelegramOff(ChannelOff):
    message = N_("Kênh Telegram chưa bật.")


class ZaloOff(ChannelOff):
    message = N_("Kênh Zalo chưa bật.")


class OutsideReplyWindow(Conflict):
    code = "outside_window"
    message = N_("Zalo chỉ cho gửi tin tư vấn trong 48 giờ sau tin nhắn cuối của người dân.")


class ZnsOff(ChannelOff):
    message = N_("Chưa cấu hình gửi tin ZNS (cần Zalo OA).")


class SmsOff(ChannelOff):
    message = N_("Chưa cấu hình nhà cung cấp SMS.")


class PhoneUnreachable(Conflict):
    """ZNS or SMS will not carry this message to this number (`reason`: not_on_zalo, template_rejected,
    quota…): the delivery plan goes on to its next step."""

    code = "phone_unreachable"
    message = N_("Không gửi được tin đến số điện thoại này qua kênh này.")


class TryLater(AppError):
    status_code = 503
    code = "try_later"
    message = N_("Kênh gửi tin đang bận hoặc chưa trả lời; xin thử lại sau.")


class VoiceTooLarge(AppError):
    """A web chat voice note larger than a 60-second note can be: refused before it is read whole."""

    status_code = 413
    code = "voice_too_large"
    message = N_("Tin nhắn thoại quá dài.")
    text_key: ClassVar[str] = "gateway_voice_too_long"


class TooManyVoiceNotes(AppError):
    """More web chat voice notes from one address in a minute than a person records."""

    status_code = 429
    code = "too_many_voice_notes"
    message = N_("Quá nhiều tin nhắn thoại.")
    text_key: ClassVar[str] = "gateway_voice_too_many"


class TooManyLocations(AppError):
    """More "find the nearest site" requests from one address in a minute than a person makes."""

    status_code = 429
    code = "too_many_locations"
    message = N_("Quá nhiều yêu cầu tìm nơi khám.")
    text_key: ClassVar[str] = "gateway_location_too_many"
