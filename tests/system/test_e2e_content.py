"""End to end, content and audio: staff change an answer in the studio (real browser), another
publishes it, and the running assistant answers with it at once — no retraining; a bot message
changed through the API reaches Rasa's NLG within its refresh interval; a resident who picks Tày
hears the Tày clip as a Telegram voice note (local fake of the Bot API) and in the web chat's player.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.wording import domain_seeds
from tests.support.fake_telegram import FakeBotApi, running_fake_bot_api
from tests.support.servers import api_env, running_gateway, say, texts, trained_assistant, wait_for

pytestmark = pytest.mark.slow
PASSWORD = "mat-khau-du-dai-123"


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with trained_assistant(tmp_path_factory.mktemp("e2e-content")) as urls:
        yield urls


def create_staff(assistant: dict[str, str], username: str, role: str) -> None:
    env = {**api_env(f"sqlite:///{Path(assistant['workdir']) / 'api.db'}"), "STAFF_PASSWORD": PASSWORD}
    subprocess.run([sys.executable, "-m", "api", "create-staff", "--username", username, "--role", role],
                   env=env, check=True, capture_output=True)


def test_an_answer_edited_and_published_in_the_studio_is_the_bots_next_answer(
        assistant: dict[str, str], browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 30)
    create_staff(assistant, "bientap-mai", "editor")
    create_staff(assistant, "bientap-lan", "editor")
    api = assistant["api"]
    assert "MIỄN PHÍ" in texts(say(assistant, "e2e-studio", "ksk co mat tien k"))

    def log_in(username: str) -> None:
        browser.delete_all_cookies()
        browser.get(f"{api}/studio/login")
        browser.find_element(By.ID, "username").send_keys(username)
        browser.find_element(By.ID, "password").send_keys(PASSWORD)
        browser.find_element(By.ID, "login").click()
        wait.until(lambda d: "/studio/faq" in d.current_url)

    new_answer = "Khám sức khỏe định kỳ theo Chỉ thị 17 là MIỄN PHÍ, bác không phải trả tiền (bản sửa ngày 23/11)."
    log_in("bientap-mai")
    browser.get(f"{api}/studio/faq/free_of_charge")
    answer = browser.find_element(By.ID, "answer_vi")
    answer.clear()
    answer.send_keys(new_answer)
    assert browser.find_element(By.ID, "preview").text == new_answer  # the chat preview follows the typing
    browser.find_element(By.ID, "submit-review").click()
    wait.until(lambda d: "gửi duyệt" in d.find_element(By.CSS_SELECTOR, ".flash").text)
    # Still the old answer: a change needs a second pair of eyes.
    assert new_answer not in texts(say(assistant, "e2e-studio", "ksk co mat tien k"))

    log_in("bientap-lan")
    browser.get(f"{api}/studio/review")
    browser.find_element(By.CSS_SELECTOR, "button.publish").click()
    published_at = time.monotonic()
    wait.until(lambda d: "Đã xuất bản" in d.find_element(By.CSS_SELECTOR, ".flash").text)
    reply = texts(say(assistant, "e2e-studio-2", "ksk co mat tien k"))
    seconds = time.monotonic() - published_at
    assert new_answer in reply
    print(f"FAQ answer published → bot answers with it: {seconds:.2f} s")


def test_a_published_bot_message_reaches_the_nlg_within_a_minute(assistant: dict[str, str]) -> None:
    create_staff(assistant, "quantri-e2e", "admin")
    api = assistant["api"]
    token = httpx.post(f"{api}/api/v1/auth/token", data={"username": "quantri-e2e", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert domain_seeds()["utter_help"][:40] in texts(say(assistant, "e2e-message-0", "ban giup duoc gi"))
    new_text = "Dạ, tôi giúp bác/anh/chị đặt lịch khám, xem lịch ở xã và tra sổ sức khỏe (lời mới):"
    revision = httpx.post(f"{api}/api/v1/content/revisions", headers=headers, json={
        "kind": "message", "key": "utter_help", "payload": {"texts": {"vi": new_text}}}).json()
    assert httpx.post(f"{api}/api/v1/content/revisions/{revision['id']}/publish", headers=headers).status_code == 200
    started = time.monotonic()
    seen: list[str] = []

    def changed() -> bool:
        seen.append(texts(say(assistant, f"e2e-message-{len(seen) + 1}", "ban giup duoc gi")))
        return new_text in seen[-1]

    wait_for(changed, timeout_s=60, what=lambda: seen[-1:])
    print(f"bot message published → Rasa says it: {time.monotonic() - started:.1f} s")


@pytest.fixture(scope="module")
def telegram(assistant: dict[str, str]) -> Iterator[tuple[FakeBotApi, str]]:
    with running_fake_bot_api() as bot_api, running_gateway(
            assistant, TELEGRAM_BOT_TOKEN="42:E2E", TELEGRAM_MODE="polling", TELEGRAM_API_BASE=bot_api.base,
            PER_CHAT_INTERVAL_S="0") as gateway:
        yield bot_api, gateway


def test_a_tay_speaker_gets_the_tay_clip_as_a_telegram_voice_note(
        assistant: dict[str, str], telegram: tuple[FakeBotApi, str]) -> None:
    bot_api, _ = telegram
    # The demo's generated stand-in (free_of_charge's clip went stale when the first test changed its text).
    clip = httpx.get(f"{assistant['api']}/api/v1/audio/for", params={"key": "what_to_bring", "lang": "tyz"}).json()
    assert clip["language"] == "tyz" and clip["placeholder"]
    ogg = httpx.get(clip["ogg_url"]).content

    def message(update_id: int, text: str) -> dict[str, Any]:
        return {"update_id": update_id, "message": {
            "message_id": update_id, "date": int(time.time()), "text": text,
            "chat": {"id": 777, "type": "private"}, "from": {"id": 777, "is_bot": False, "first_name": "Nông"}}}

    bot_api.updates.append(message(1, "toi muon nghe tieng tay"))
    bot_api.wait_for(lambda: len(bot_api.sent("sendVoice")) >= 1, timeout_s=60)
    chosen = bot_api.sent("sendVoice")[0]
    assert "chưa có bản ghi tiếng Tày" in chosen.data.get("caption", "")  # said plainly: Vietnamese voice
    bot_api.updates.append(message(2, "di kham can mang theo giay to gi"))
    bot_api.wait_for(lambda: len(bot_api.sent("sendVoice")) >= 2, timeout_s=60)
    voice = bot_api.sent("sendVoice")[1]
    # aiogram uploads the file as a multipart part referenced by "attach://…" in the voice field.
    assert voice.data["voice"].startswith("attach://")
    assert list(voice.files.values()) == [ogg] and not voice.data.get("caption")
    assert any("CCCD" in c.data.get("text", "") for c in bot_api.sent("sendMessage"))


def test_the_web_chat_plays_the_clip_in_the_chosen_language(assistant: dict[str, str], browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    with running_gateway(assistant) as gateway:
        browser.get(f"{gateway}/chat")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.bot"))

        def type_in(text: str) -> None:
            field = browser.find_element(By.ID, "text")
            field.send_keys(text)
            browser.find_element(By.CSS_SELECTOR, "#send button").click()

        type_in("toi muon nghe tieng tay")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "audio"))
        type_in("di kham can mang theo giay to gi")
        player = wait.until(lambda d: next(iter(d.find_elements(By.CSS_SELECTOR, 'audio[lang="tyz"]')), None))
        source = player.get_attribute("src")
        fetched = httpx.get(source)
        assert fetched.status_code == 200 and fetched.headers["content-type"] == "audio/mpeg"
        duration = browser.execute_script(
            "const a = arguments[0]; a.preload = 'auto'; a.load();"
            "return new Promise(r => a.addEventListener('loadedmetadata', () => r(a.duration)));", player)
        assert duration > 0.5  # the browser can decode and play it
