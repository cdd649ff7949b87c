"""The gateway's ZNS and SMS paths on their own, against the local fakes: the OA token refreshed for ZNS
as for OA messages, each provider answer sorted into "next step" or "later", a key carried once (and
free again after a failure that may pass), and residents' SMS replies read as stop requests or not."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet, MultiFernet

from gateway.errors import PhoneUnreachable, SmsOff, TryLater
from gateway.phone import PhoneNoticeIn, PhoneNotices
from gateway.sms import JsonSmsProvider, delivered_key, stop_request
from gateway.store import Store
from gateway.zalo import OaApiClient
from tests.support.fake_sms import FakeSms, running_fake_sms
from tests.support.fake_zalo import APP_ID, APP_SECRET, FakeOa


@pytest.fixture
def sms() -> Iterator[FakeSms]:
    with running_fake_sms() as fake:
        yield fake


class Desk:
    """The gateway's phone notices on one event loop (its HTTP clients belong to it)."""

    def __init__(self, notices: PhoneNotices, loop: asyncio.AbstractEventLoop) -> None:
        self.notices, self.loop = notices, loop

    def send(self, notice: PhoneNoticeIn) -> bool:
        return self.loop.run_until_complete(self.notices.send(notice))


@pytest.fixture
def notices(tmp_path: Path, oa: FakeOa, sms: FakeSms) -> Iterator[Desk]:
    store = Store(f"sqlite:///{tmp_path / 'gateway.db'}", MultiFernet([Fernet(Fernet.generate_key())]))
    zalo = OaApiClient(app_id=APP_ID, app_secret=APP_SECRET, initial_refresh_token="refresh-1", store=store,
                       fernet=store.cipher, api_base=oa.base, oauth_base=oa.base, zns_base=oa.base)
    settings = sms.gateway_settings()
    provider = JsonSmsProvider(url=settings["sms_url"], brand=settings["sms_brand"], api_key=settings["sms_api_key"],
                               secret_key=settings["sms_secret_key"])
    loop = asyncio.new_event_loop()
    yield Desk(PhoneNotices(store, zalo=zalo, sms=provider), loop)
    loop.run_until_complete(zalo.close())
    loop.run_until_complete(provider.close())
    loop.close()


def zns(key: str = "reminder-1-zns", phone: str = "84912345678") -> PhoneNoticeIn:
    return PhoneNoticeIn(key=key, via="zns", phone=phone, template_id="231456", template_data={"gio_kham": "07:30"})


def sms_notice(key: str = "reminder-1-sms", phone: str = "84912345678") -> PhoneNoticeIn:
    return PhoneNoticeIn(key=key, via="sms", phone=phone, text="Nhac lich kham 07:30 02/12 tai Tram y te xa.")


def reason(notices: Desk, notice: PhoneNoticeIn) -> str:
    try:
        sent = notices.send(notice)
    except PhoneUnreachable as error:
        return str(error.details["reason"])
    except TryLater:
        return "later"
    return "sent" if sent else "duplicate"


def test_zns_refreshes_the_oa_token_and_sends_each_key_once(notices: Desk, oa: FakeOa) -> None:
    assert reason(notices, zns()) == "sent"  # no token yet: refreshed, then sent
    oa.generation += 1                                 # the token expires (-124): refreshed once more
    assert reason(notices, zns("reminder-2-zns")) == "sent"
    assert reason(notices, zns()) == "duplicate"  # the first key again: dropped
    assert [m["tracking_id"] for m in oa.zns_sent] == ["reminder-1-zns", "reminder-2-zns"]


@pytest.mark.parametrize(("answer", "expected"), [
    (-118, "not_on_zalo"), (-119, "not_on_zalo"), (-139, "blocked"), (-131, "template_rejected"),
    (-109, "template_rejected"), (-144, "quota"), (-115, "quota"), (-108, "invalid_phone"), (-999, "zns_-999"),
    (-32, "later"), (-133, "later"), (502, "later")])
def test_each_zns_answer_is_sorted(notices: Desk, oa: FakeOa, answer: int, expected: str) -> None:
    oa.zns_plan = [answer]
    assert reason(notices, zns()) == expected
    # The key is kept only for a message that went out: handed over again, Zalo is asked again (a refusal
    # costs nothing; here it accepts).
    assert reason(notices, zns()) == "sent"


@pytest.mark.parametrize(("answer", "expected"), [
    ("103", "quota"), ("101", "sms_auth"), ("104", "sms_brandname"), ("146", "sms_template"), ("177", "sms_177"),
    ("99", "later"), (503, "later"), (429, "later")])
def test_each_sms_answer_is_sorted(notices: Desk, sms: FakeSms, answer: Any, expected: str) -> None:
    sms.plan = [answer]
    assert reason(notices, sms_notice()) == expected
    if expected == "later":
        assert reason(notices, sms_notice()) == "sent" and len(sms.sent) == 1


def test_a_channel_that_is_not_configured_says_so(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'g.db'}", MultiFernet([Fernet(Fernet.generate_key())]))
    with pytest.raises(SmsOff):
        asyncio.run(PhoneNotices(store, zalo=None, sms=None).send(sms_notice()))


def test_replies_and_reports_from_the_sms_provider_are_read() -> None:
    for text in ("TC", "tc", " Tc ", "TC.", "tc!", "Từ chối", "tu choi nhan tin", "HUY NHAC", "stop", "Dừng",
                 "dừng nhắn"):
        assert stop_request({"Phone": "84912345678", "Content": text}) == "84912345678", text
    # "Đúng" (yes) and "Dũng" (a name) fold to "dung" like "dừng": not a stop.
    for text in ("tcx", "cảm ơn", "", "ok TC", "Đúng", "Đúng rồi", "dung", "Dũng đây"):
        assert stop_request({"Phone": "84912345678", "Content": text}) is None, text
    assert stop_request({"Content": "TC"}) is None
    assert delivered_key({"RequestId": "reminder-3-sms", "SendStatus": "5"}) == "reminder-3-sms"
    assert delivered_key({"RequestId": "reminder-3-sms", "SendStatus": "4"}) is None


def test_a_timeout_after_sending_is_not_sent_again(notices: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    async def timed_out(*_args: Any, **_kwargs: Any) -> None:
        raise httpx.ReadTimeout("no answer")

    async def closed(*_args: Any) -> None:
        return None

    provider = notices.notices.sms
    assert provider is not None
    monkeypatch.setattr(provider, "client", type("Silent", (), {"post": timed_out, "aclose": closed})())
    assert reason(notices, sms_notice()) == "later"
    assert reason(notices, sms_notice()) == "duplicate"  # it may have gone: at most once
