"""SMS through a brand-name provider: the last step of a reminder's delivery plan, and the stop keyword
residents text back.

`SmsProvider` is the small interface the gateway needs; `JsonSmsProvider` speaks the JSON API the
common Vietnamese brand-name gateways offer (eSMS-style fields: ApiKey, SecretKey, Phone, Content,
Brandname, SmsType, IsUnicode, RequestId, CallbackUrl; result `CodeResult` "100" when accepted). Its URL,
brand name and keys come from the environment; another provider is another implementation.

The text arrives composed by the API (api/notifications/templates.py: time, place, how to stop; in GSM-7
without diacritics unless the province set SMS_ENCODING=unicode) — the gateway only carries it, marked
Unicode only when it is not plain ASCII.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from vntext import collapse_spaces, fold, nfc

# Texts that ask for no more reminders: "TC" (từ chối, what the messages say) and what people also send,
# compared without diacritics — except "dừng", whose unaccented form is also "đúng" (yes) and a name.
STOP_WORDS = ("tc", "tu choi", "huy nhac", "stop", "khong nhac", "khong nhan")
STOP_WORDS_WITH_MARKS = ("dừng",)
_PUNCTUATION = re.compile(r"[^\w\s]", re.UNICODE)
ACCEPTED = "100"
# The provider's codes for a message it will not carry for our account, whatever the number.
ACCOUNT_PROBLEMS = {"101": "sms_auth", "102": "sms_account_locked", "103": "quota", "104": "sms_brandname",
                    "146": "sms_template"}


@dataclass(frozen=True)
class SmsRefused(Exception):
    """The provider refused this message for good: `reason` is the plan's word for it."""

    reason: str


class SmsUnavailable(Exception):
    """The provider did not answer or failed for now: try again later."""


class SmsMaybeSent(SmsUnavailable):
    """The request went out and no answer came: the message may have been sent."""


class SmsProvider(Protocol):
    async def send(self, phone: str, text: str, request_id: str) -> None:
        """Raises SmsRefused or SmsUnavailable."""

    async def close(self) -> None: ...


class JsonSmsProvider:
    def __init__(self, *, url: str, brand: str, api_key: str, secret_key: str, callback_url: str = "",
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url, self.brand, self.api_key, self.secret_key = url, brand, api_key, secret_key
        self.callback_url = callback_url
        self.client = httpx.AsyncClient(timeout=10, transport=transport)

    async def send(self, phone: str, text: str, request_id: str) -> None:
        body = {"ApiKey": self.api_key, "SecretKey": self.secret_key, "Phone": phone, "Content": text,
                "Brandname": self.brand, "SmsType": "2",
                # The API wrote the text for the provider's alphabet (SMS_ENCODING): Unicode only if it has to.
                "IsUnicode": "0" if text.isascii() else "1",
                "RequestId": request_id, "CallbackUrl": self.callback_url}
        try:
            response = await self.client.post(self.url, json=body)
        except httpx.ReadTimeout as error:
            raise SmsMaybeSent() from error
        except httpx.HTTPError as error:
            raise SmsUnavailable() from error
        if response.status_code >= 500 or response.status_code == 429:
            raise SmsUnavailable()
        try:
            code = str(response.json().get("CodeResult", ""))
        except (ValueError, AttributeError) as error:  # not the provider's JSON object: try again later
            raise SmsUnavailable() from error
        if code == ACCEPTED:
            return
        if code in ACCOUNT_PROBLEMS:
            raise SmsRefused(ACCOUNT_PROBLEMS[code])
        if code == "99":  # the provider's "unknown error, try again"
            raise SmsUnavailable()
        raise SmsRefused(f"sms_{code or response.status_code}"[:32])

    async def close(self) -> None:
        await self.client.aclose()


def delivered_key(report: dict[str, Any]) -> str | None:
    """The request id of a delivery report that says the phone received the message."""
    status, key = str(report.get("SendStatus", "")), str(report.get("RequestId", ""))
    return key if status == "5" and key else None  # 5: delivered to the handset


def stop_request(message: dict[str, Any]) -> str | None:
    """The sender's number of an inbound SMS asking that reminders stop, else None."""
    marked = collapse_spaces(_PUNCTUATION.sub(" ", nfc(str(message.get("Content", ""))).lower()))
    folded, phone = fold(marked), str(message.get("Phone", ""))

    def starts(text: str, words: tuple[str, ...]) -> bool:
        return any(text == word or text.startswith(word + " ") for word in words)

    if not phone or not (starts(folded, STOP_WORDS) or starts(marked, STOP_WORDS_WITH_MARKS)):
        return None
    return phone
