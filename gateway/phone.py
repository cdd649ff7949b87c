"""Messages the API hands over for a phone number rather than a chat: a ZNS template through the Zalo
OA (its access token is the one the gateway already keeps fresh) or an SMS through the provider.

Each Zalo error is sorted into what the API's delivery plan does next: the number cannot be reached
this way (409 `phone_unreachable` with the reason: the plan moves to SMS), or not now (503 `try_later`:
the same step again in a few minutes). Every hand-over has a key, kept only once the message went out:
a key carried before is answered "duplicate" (sent) and not sent again; a refusal or a failure forgets
it, so a repeat is judged afresh (Zalo and the provider do not charge a refusal). A read timeout is the
one doubt — the message may have gone — and keeps the key: at most once rather than twice.
"""

from __future__ import annotations

import logging
from typing import Literal

import httpx
from pydantic import BaseModel, Field

from gateway.errors import PhoneUnreachable, SmsOff, TryLater, ZnsOff
from gateway.sms import SmsMaybeSent, SmsProvider, SmsRefused, SmsUnavailable
from gateway.store import Store
from gateway.zalo import RATE_LIMITED, ZNS_INVALID_TOKEN, OaApiClient, ZaloError

log = logging.getLogger("gateway.phone")

# Zalo's ZNS error codes, by what the plan does with them.
ZNS_UNREACHABLE = {
    -108: "invalid_phone",    # not a valid number
    -118: "not_on_zalo",      # no Zalo account for this number, or it is disabled
    -119: "not_on_zalo",      # the account cannot receive template messages
    -139: "blocked",          # the person refused this OA's template messages
    -109: "template_rejected",  # no such template for this OA
    -112: "template_rejected",  # the data does not fit the template
    -131: "template_rejected",  # the template is not approved (or was disabled)
    -115: "quota",            # the OA's ZNS balance is spent
    -144: "quota",            # the OA's daily quota is spent
}
ZNS_LATER = {RATE_LIMITED, -133}  # too many requests; -133: ZNS is not sent at night (22:00–06:00)
# Zalo's longest string parameter (api/notifications/templates.py cuts values to it before sending).
ZNS_VALUE_LIMIT = 100


class MaybeSent(Exception):
    """No answer after the request went out: it may have been sent."""


class PhoneNoticeIn(BaseModel):
    key: str = Field(pattern=r"^[A-Za-z0-9_:\-]{1,100}$")
    via: Literal["zns", "sms"]
    phone: str = Field(pattern=r"^84[0-9]{9,10}$")
    template_id: str = Field(default="", pattern=r"^[0-9]{0,32}$")
    template_data: dict[str, str] = Field(default_factory=dict, max_length=20)
    text: str = Field(default="", max_length=480)


class PhoneNotices:
    def __init__(self, store: Store, *, zalo: OaApiClient | None, sms: SmsProvider | None) -> None:
        self.store, self.zalo, self.sms = store, zalo, sms

    async def send(self, notice: PhoneNoticeIn) -> bool:
        """True when sent now, False when the key was carried before; raises what the plan should hear."""
        if notice.via == "zns" and self.zalo is None:
            raise ZnsOff()
        if notice.via == "sms" and self.sms is None:
            raise SmsOff()
        if not self.store.first_notification(notice.key):
            return False
        try:
            if notice.via == "zns":
                await self._zns(notice)
            else:
                await self._sms(notice)
        except MaybeSent:
            raise TryLater() from None
        except BaseException:
            self.store.forget_notification(notice.key)
            raise
        return True

    async def _zns(self, notice: PhoneNoticeIn) -> None:
        assert self.zalo is not None
        if not notice.template_id or any(len(value) > ZNS_VALUE_LIMIT for value in notice.template_data.values()):
            raise PhoneUnreachable(reason="template_rejected")
        try:
            await self.zalo.template(notice.phone, notice.template_id, notice.template_data, notice.key)
        except ZaloError as error:
            if error.code in ZNS_LATER:
                raise TryLater() from None
            if error.code == ZNS_INVALID_TOKEN:  # refused even after a refresh: the OA's credentials
                log.error("ZNS refused the OA's token after a refresh: check ZALO_* credentials")
                raise TryLater() from None
            reason = ZNS_UNREACHABLE.get(error.code, f"zns_{error.code}")
            if reason in ("template_rejected", "quota"):  # staff must act: a template, a top-up
                log.warning("ZNS refused: %s (Zalo %d)", reason, error.code)
            raise PhoneUnreachable(reason=reason) from None
        except httpx.ReadTimeout:
            raise MaybeSent() from None
        except (httpx.HTTPError, ValueError, AttributeError):  # unreachable, or not Zalo's JSON object
            raise TryLater() from None

    async def _sms(self, notice: PhoneNoticeIn) -> None:
        assert self.sms is not None
        if not notice.text.strip():
            raise PhoneUnreachable(reason="sms_empty")
        try:
            await self.sms.send(notice.phone, notice.text, notice.key)
        except SmsRefused as refused:
            log.warning("SMS refused: %s", refused.reason)
            raise PhoneUnreachable(reason=refused.reason) from None
        except SmsMaybeSent:
            raise MaybeSent() from None
        except SmsUnavailable:
            raise TryLater() from None
