from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, status
from pydantic import BaseModel, Field, field_validator

from api.bookings import access
from api.consent.service import NOTICE_VERSION_PATTERN, ReminderWay
from api.core.errors import Forbidden
from api.deps import CryptoDep, DatabaseDep, GatewayOnly, SettingsDep
from api.notifications import broadcasts, reminders
from api.security.origin import Origin, ResidentOrigin

router = APIRouter(tags=["reminders"])

ChatId = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
Channel = Field(pattern=r"^[a-z_]{2,16}$")


class SubscribeIn(BaseModel):
    booking_code: str = Field(min_length=4, max_length=16)
    channel: str = Channel
    chat_id: str = ChatId
    language: str = Field(default="vi", pattern=r"^[a-z]{2,3}$")
    consent_notice: str = Field(pattern=NOTICE_VERSION_PATTERN)


CHAT_ONLY: tuple[ReminderWay, ...] = ("chat",)


class ReminderSubscribeIn(SubscribeIn):
    # The ways named by the offer the resident said yes to. A client from before the offer named ZNS and
    # SMS sends none: its offer named the chat only.
    reach: list[ReminderWay] = Field(default_factory=lambda: list(CHAT_ONLY), min_length=1, max_length=3)

    @field_validator("reach")
    @classmethod
    def each_once(cls, reach: list[ReminderWay]) -> list[ReminderWay]:
        if len(set(reach)) != len(reach):
            raise ValueError("each way once")
        return reach


class StopPhoneIn(BaseModel):
    # As the SMS provider gives the sender: "0912345678", "84912345678", "+84 912 345 678".
    phone: str = Field(min_length=1, max_length=30)


class ChatIn(BaseModel):
    channel: str = Channel
    chat_id: str = ChatId


class ConfirmIn(ChatIn):
    booking_code: str = Field(min_length=4, max_length=16)


class StoppedOut(BaseModel):
    stopped: int


class ChatMismatch(Forbidden):
    code = "chat_mismatch"
    message = "Chỉ đăng ký hoặc dừng tin nhắn cho chính cuộc trò chuyện đang gửi yêu cầu."


Verifier = Annotated[str | None, Header(alias=access.HEADER, max_length=20)]


def same_chat(origin: Origin, channel: str, chat_id: str) -> None:
    """Messages go only to the chat that asked (signed by the gateway), never to one named in the body."""
    if origin.chat is not None and (origin.chat.channel, origin.chat.sender) != (channel, chat_id):
        raise ChatMismatch()


@router.post("/reminders/subscribe", status_code=status.HTTP_204_NO_CONTENT)
def subscribe(body: ReminderSubscribeIn, origin: ResidentOrigin, database: DatabaseDep, crypto: CryptoDep,
              settings: SettingsDep, verifier: Verifier = None) -> None:
    """The resident agreed, in this chat, to reminders before the appointment and a follow-up after it,
    by the ways `reach` names (the web chat: the booking's phone only). The chat must be the one that
    made the booking, or show the booking's second factor."""
    same_chat(origin, body.channel, body.chat_id)
    access.act_on(database, crypto, settings, origin, body.booking_code, verifier,
                  lambda db, booking: reminders.subscribe(
                      db=db, crypto=crypto, code=booking.code, channel=body.channel, chat_id=body.chat_id,
                      language=body.language, consent_notice=body.consent_notice, reach=body.reach))


@router.post("/reminders/stop", response_model=StoppedOut)
def stop(body: ChatIn, origin: ResidentOrigin, database: DatabaseDep, crypto: CryptoDep) -> StoppedOut:
    same_chat(origin, body.channel, body.chat_id)
    with database.write() as db:
        return StoppedOut(stopped=reminders.stop(db=db, crypto=crypto, channel=body.channel, chat_id=body.chat_id))


@router.post("/reminders/stop-phone", status_code=status.HTTP_204_NO_CONTENT, dependencies=[GatewayOnly])
def stop_phone(body: StopPhoneIn, database: DatabaseDep, crypto: CryptoDep) -> None:
    """"TC" texted from a phone (the gateway relays the SMS provider's inbound keyword): reminders stop for
    everyone booked with that number.

    Always 204, whether the number was anyone's or not, so the answer tells nothing about who booked.
    A number that is no Vietnamese mobile number is 204 as well, not a 422: the provider passes on any
    sender (a short code, a foreign number), there is nothing to stop for it, and a 4xx would only make
    the gateway log or retry the resident's "TC" as its own mistake."""
    with database.write() as db:
        reminders.stop_phone(db=db, crypto=crypto, phone=body.phone)


@router.post("/reminders/confirm", status_code=status.HTTP_204_NO_CONTENT)
def confirm(body: ConfirmIn, origin: ResidentOrigin, database: DatabaseDep, crypto: CryptoDep) -> None:
    same_chat(origin, body.channel, body.chat_id)
    with database.write() as db:
        reminders.confirm(db=db, crypto=crypto, code=body.booking_code, channel=body.channel, chat_id=body.chat_id)


@router.post("/announcements/subscribe", status_code=status.HTTP_204_NO_CONTENT)
def subscribe_announcements(body: SubscribeIn, origin: ResidentOrigin, database: DatabaseDep, crypto: CryptoDep,
                            settings: SettingsDep, verifier: Verifier = None) -> None:
    """The resident asked, in this chat, to hear when a mobile team comes to their commune."""
    same_chat(origin, body.channel, body.chat_id)
    access.act_on(database, crypto, settings, origin, body.booking_code, verifier,
                  lambda db, booking: broadcasts.subscribe(
                      db=db, crypto=crypto, code=booking.code, channel=body.channel, chat_id=body.chat_id,
                      language=body.language, consent_notice=body.consent_notice))


@router.post("/announcements/stop", response_model=StoppedOut)
def stop_announcements(body: ChatIn, origin: ResidentOrigin, database: DatabaseDep, crypto: CryptoDep
                       ) -> StoppedOut:
    same_chat(origin, body.channel, body.chat_id)
    with database.write() as db:
        return StoppedOut(stopped=broadcasts.stop(db=db, crypto=crypto, channel=body.channel,
                                                     chat_id=body.chat_id))
