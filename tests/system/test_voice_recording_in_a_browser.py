"""A volunteer records the assistant's Tày greeting from a phone, in Debian's Chromium: the microphone is
Chromium's fake device playing a Vietnamese sentence spoken by espeak-ng, so the page's MediaRecorder, its
player, its outbox (IndexedDB) and the server's checks all meet a real browser recording. Then an invited
reviewer of Tày accepts the take and residents hear it. Also: a microphone the browser refuses is said
plainly, and a take sent without a connection waits on the phone — through a reload too — and is filed once.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from api.content.service import seed_messages
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import Database
from api.core.migrate import upgrade
from api.faq.service import seed_content
from api.main import create_app
from api.recording import invitations
from api.recording.models import Take
from api.staff.service import create_staff
from tests.support.browser import axe_violations, chromium, overflowing
from tests.support.env import IN_CI, make_settings
from tests.support.servers import app_in_thread
from tests.system.test_desk_in_a_browser import offline

pytestmark = pytest.mark.slow

# Messages without values to fill in (recordable); each test records its own.
GREET, FREE, BRING = "utter_greet", "free_of_charge", "what_to_bring"
SENTENCE = "Xin chào bà con, mời bà con đi khám sức khỏe miễn phí tại trạm y tế xã."
MIC_REFUSED = "Trình duyệt chưa cho dùng micrô"
SENT = "Đã gửi. Người biết tiếng sẽ nghe duyệt"
RETRYING = "Mạng chập chờn: bản ghi được giữ trên máy"


def _needed(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        reason = f"{', '.join(missing)} not installed (make setup-system)"
        if IN_CI:
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sentence the fake microphone plays (over and over), as Chromium reads a file: 48 kHz mono PCM."""
    _needed("espeak-ng", "ffmpeg")
    folder = tmp_path_factory.mktemp("microphone")
    raw, clip = folder / "espeak.wav", folder / "clip.wav"
    subprocess.run(["espeak-ng", "-v", "vi", "-w", str(raw), SENTENCE], check=True, capture_output=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(raw), "-ar", "48000", "-ac", "1",
                    "-c:a", "pcm_s16le", str(clip)], check=True)
    return clip


@dataclass
class Campaign:
    base: str
    settings: Settings
    database: Database
    crypto: Crypto

    def invite(self, purpose: str = "record", keys: list[str] | None = None) -> str:
        """A new invitation for Tày, as staff make it; its link."""
        with self.database.write() as db:
            editor = create_staff(db=db, actor=None, username=f"editor-{uuid.uuid4().hex[:6]}",
                                  password="mat-khau-123", role="editor")
            _invitation, token = invitations.create_invitation(db, self.crypto, editor, purpose=purpose,
                                                               language="tyz", days=7, max_people=5, keys=keys)
        return f"{self.base}/studio/voice/{token}"

    def takes(self) -> list[Take]:
        with self.database.read() as db:
            found = list(db.scalars(select(Take).order_by(Take.id)))
            db.expunge_all()
        return found

    def count(self) -> int:
        with self.database.read() as db:
            return int(db.scalar(select(func.count(Take.id))) or 0)


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Campaign]:
    _needed("ffmpeg", "ffprobe")
    tmp = tmp_path_factory.mktemp("voice")
    settings = make_settings(f"sqlite:///{tmp / 'voice.db'}", tmp)
    database = Database.from_settings(settings)
    upgrade(database.writer)
    with database.write() as db:
        seed_content(db)
        seed_messages(db)
    with app_in_thread(create_app(settings, database)) as base:
        yield Campaign(base, settings, database, Crypto.from_settings(settings))
    database.dispose()


@pytest.fixture(scope="module")
def microphone(spoken: Path) -> Iterator[Any]:
    """A Chromium whose microphone is a fake device playing `spoken`, allowed without asking."""
    with chromium(flags=("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                         f"--use-file-for-fake-audio-capture={spoken}")) as driver:
        yield driver


def join(driver: Any, link: str, name: str, phone: str, *, audit: bool = False) -> None:
    """Opens the link, gives a name and phone, agrees to the notice and starts."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(link)
    if audit:
        assert overflowing(driver) == []
        assert axe_violations(driver) == []
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "phone").send_keys(phone)
    driver.find_element(By.ID, "agree").click()
    driver.find_element(By.ID, "start").click()
    WebDriverWait(driver, 15).until(lambda d: d.find_elements(By.ID, "recorder") or d.find_elements(By.ID, "queue"))


def shown(driver: Any, element_id: str) -> bool:
    from selenium.webdriver.common.by import By

    return bool(driver.find_element(By.ID, element_id).is_displayed())


def text_of(driver: Any, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.ID, element_id).text)


def record(driver: Any, seconds: float = 3.0) -> None:
    """Ghi âm, a few seconds of the sentence, Dừng: the take is ready to hear and send."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 15)
    wait.until(lambda d: shown(d, "record"))
    driver.find_element(By.ID, "record").click()
    wait.until(lambda d: shown(d, "stop"))
    time.sleep(seconds)
    driver.find_element(By.ID, "stop").click()
    wait.until(lambda d: shown(d, "listen") and shown(d, "send"))


def test_a_volunteer_records_on_a_phone_and_a_reviewer_publishes_it(microphone: Any, campaign: Campaign) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver, wait = microphone, WebDriverWait(microphone, 30)
    join(driver, campaign.invite(keys=[GREET]), "Lý Thị Mai", "0912345678", audit=True)
    assert "Chào Lý Thị Mai" in driver.page_source
    assert driver.find_element(By.ID, "recorder").get_attribute("data-key") == GREET
    assert overflowing(driver) == []
    assert axe_violations(driver) == []

    record(driver)
    assert "Đã ghi xong" in text_of(driver, "status")
    player = driver.find_element(By.ID, "take")
    assert player.get_attribute("src").startswith("blob:")
    driver.find_element(By.ID, "listen").click()
    # It plays: the position moves on (Chrome's WebM from MediaRecorder has no duration to read).
    wait.until(lambda d: d.execute_script("return arguments[0].currentTime", player) > 0.5)
    assert overflowing(driver) == []

    started = time.perf_counter()
    driver.find_element(By.ID, "send").click()
    while campaign.count() == 0:
        assert time.perf_counter() - started < 30, f"no take filed: {text_of(driver, 'problem')}"
        time.sleep(0.02)
    filed_ms = (time.perf_counter() - started) * 1000
    wait.until(lambda d: text_of(d, "n-review") == "1")
    print(f"\nsend pressed → take filed: {filed_ms:.0f} ms")
    assert SENT in text_of(driver, "status")
    assert not shown(driver, "problem")
    (take,) = campaign.takes()
    assert (take.key, take.language, take.status) == (GREET, "tyz", "in_review")
    assert take.duration_ms > 2000
    # Nothing more to record under this link: the page says so instead of the recorder.
    wait.until(lambda d: shown(d, "done"))
    assert driver.execute_async_script("""
        var done = arguments[0], open = indexedDB.open("ksk-voice");
        open.onsuccess = function () {
          var get = open.result.transaction("outbox").objectStore("outbox").count();
          get.onsuccess = function () { done(get.result); };
        };""") == 0

    # An invited reviewer of Tày, on her own phone, hears it and accepts it.
    driver.delete_all_cookies()
    join(driver, campaign.invite("review"), "Hoàng Văn Páo", "0987654321")
    item = driver.find_element(By.ID, f"take-{take.id}")
    assert item.find_element(By.TAG_NAME, "audio").get_attribute("src").endswith(f"/takes/{take.id}.mp3")
    assert overflowing(driver) == []
    item.find_element(By.CSS_SELECTOR, "form[action$='/accept'] button").click()
    wait.until(lambda d: d.find_elements(By.ID, "done"))
    assert "Đã nhận" in text_of(driver, "done")

    played = httpx.get(f"{campaign.base}/api/v1/audio/for", params={"key": GREET, "lang": "tyz"})
    assert played.status_code == 200, played.text
    clip = played.json()
    assert clip["language"] == "tyz" and clip["placeholder"] is False
    mp3 = httpx.get(clip["url"])
    assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg" and len(mp3.content) > 10_000


def test_a_refused_microphone_is_said_plainly(spoken: Path, campaign: Campaign) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with chromium(flags=("--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={spoken}",
                         "--deny-permission-prompts")) as driver:
        driver.execute_cdp_cmd("Browser.setPermission", {"permission": {"name": "microphone"},
                                                         "setting": "denied", "origin": campaign.base})
        join(driver, campaign.invite(keys=[FREE]), "Nông Thị Dín", "0911222333")
        driver.find_element(By.ID, "record").click()
        WebDriverWait(driver, 10).until(lambda d: shown(d, "problem"))
        assert MIC_REFUSED in text_of(driver, "problem") and "Cho phép" in text_of(driver, "problem")
        # Nothing half-started: the recorder is where it was, ready for a second try.
        assert shown(driver, "record") and not shown(driver, "stop") and not shown(driver, "send")
        assert driver.find_element(By.ID, "status").text == ""


def test_a_take_sent_without_a_connection_waits_on_the_phone_and_is_filed_once(
        microphone: Any, campaign: Campaign) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver, wait = microphone, WebDriverWait(microphone, 40)
    driver.delete_all_cookies()
    before = campaign.count()
    link = campaign.invite(keys=[FREE, BRING])
    join(driver, link, "Triệu Thị Chờ", "0966111222")

    # Sent in a dead zone: kept on the phone, said so, not on the server.
    record(driver)
    first_key = driver.find_element(By.ID, "recorder").get_attribute("data-key")
    offline(driver, True)
    try:
        driver.find_element(By.ID, "send").click()
        wait.until(lambda d: RETRYING in text_of(d, "status"))
        wait.until(lambda d: shown(d, "outbox") and text_of(d, "outbox").endswith(" 1"))
        time.sleep(2)
        assert campaign.count() == before
    finally:
        offline(driver, False)
    # The connection back, it goes by itself, once.
    wait.until(lambda d: SENT in text_of(d, "status"))
    wait.until(lambda d: campaign.count() == before + 1)
    second_key = driver.find_element(By.ID, "recorder").get_attribute("data-key")
    assert second_key != first_key and not shown(driver, "outbox")

    # Sent without a connection, then the page left before it came back: the phone's outbox (IndexedDB)
    # sends it when the link is opened again.
    record(driver)
    offline(driver, True)
    try:
        driver.find_element(By.ID, "send").click()
        wait.until(lambda d: RETRYING in text_of(d, "status"))
        driver.get("about:blank")
    finally:
        offline(driver, False)
    time.sleep(1)
    assert campaign.count() == before + 1
    driver.get(link)
    wait.until(lambda d: campaign.count() == before + 2)
    wait.until(lambda d: text_of(d, "n-review") == "2")
    time.sleep(3)  # no second copy of either
    mine = campaign.takes()[before:]
    assert sorted(take.key for take in mine) == sorted([first_key, second_key])
    assert len({take.upload_id for take in mine}) == 2
