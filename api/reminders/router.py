from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from api.broadcasts import service as announcements
from api.deps import CryptoDep, DatabaseDep
from api.privacy.consent import NOTICE_VERSION_PATTERN
from api.reminders import service

router = APIRouter(tags=["reminders"])

ChatId = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
Channel = Field(pattern=r"^[a-z_]{2,16}$")


class SubscribeIn(BaseModel):
    booking_code: str = Field(min_length=4, max_length=16)
    channel: str = Channel
    chat_id: str = ChatId
    language: str = Field(default="vi", pattern=r"^[a-z]{2,3}$")
    consent_notice: str = Field(pattern=NOTICE_VERSION_PATTERN)


class ChatIn(BaseModel):
    channel: str = Channel
    chat_id: str = ChatId


class ConfirmIn(ChatIn):
    booking_code: str = Field(min_length=4, max_length=16)


class StoppedOut(BaseModel):
    stopped: int


@router.post("/reminders/subscribe", status_code=status.HTTP_204_NO_CONTENT)
def subscribe(body: SubscribeIn, database: DatabaseDep, crypto: CryptoDep) -> None:
    """The resident agreed, in this chat, to reminders before the appointment and a follow-up after it."""
    with database.write() as db:
        service.subscribe(db=db, crypto=crypto, code=body.booking_code, channel=body.channel, chat_id=body.chat_id,
                          language=body.language, consent_notice=body.consent_notice)


@router.post("/reminders/stop", response_model=StoppedOut)
def stop(body: ChatIn, database: DatabaseDep, crypto: CryptoDep) -> StoppedOut:
    with database.write() as db:
        return StoppedOut(stopped=service.stop(db=db, crypto=crypto, channel=body.channel, chat_id=body.chat_id))


@router.post("/reminders/confirm", status_code=status.HTTP_204_NO_CONTENT)
def confirm(body: ConfirmIn, database: DatabaseDep, crypto: CryptoDep) -> None:
    with database.write() as db:
        service.confirm(db=db, crypto=crypto, code=body.booking_code, channel=body.channel, chat_id=body.chat_id)


@router.post("/announcements/subscribe", status_code=status.HTTP_204_NO_CONTENT)
def subscribe_announcements(body: SubscribeIn, database: DatabaseDep, crypto: CryptoDep) -> None:
    """The resident asked, in this chat, to hear when a mobile team comes to their commune."""
    with database.write() as db:
        announcements.subscribe(db=db, crypto=crypto, code=body.booking_code, channel=body.channel,
                                chat_id=body.chat_id, language=body.language, consent_notice=body.consent_notice)


@router.post("/announcements/stop", response_model=StoppedOut)
def stop_announcements(body: ChatIn, database: DatabaseDep, crypto: CryptoDep) -> StoppedOut:
    with database.write() as db:
        return StoppedOut(stopped=announcements.stop(db=db, crypto=crypto, channel=body.channel,
                                                     chat_id=body.chat_id))
