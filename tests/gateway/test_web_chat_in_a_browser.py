"""The web chat and the widget in Debian's Chromium, as an elderly resident's cheap phone shows them:
412 and 320 px wide, at 100 % and 200 % text (Android's font scaling), at 200 % zoom, and with the
chat's own "A+": nothing scrolls sideways, every button and audio player stays on screen and big
enough to press, and axe-core finds no serious or critical violation. Then what a reload, a lost
connection and an old button do.

The assistant here is a scripted fake (the layout, not the dialogue, is under test); the whole booking
through the real Rasa, by keyboard and with reloads, is in tests/system/test_e2e_rasa.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.config import GatewaySettings
from tests.support.browser import axe_violations, chromium, overflowing, phone, unusable
from tests.support.env import IN_CI
from tests.support.servers import app_in_thread

pytestmark = pytest.mark.slow

QUESTION = "Bác/anh/chị muốn đặt lịch cho ai ạ?"
CHOICES = [{"title": "Cho bản thân", "payload": "/choose_self"},
           {"title": "Cho người thân trong gia đình (bố, mẹ, ông, bà, con)", "payload": "/choose_other"}]
LONG = ("Khám sức khỏe định kỳ miễn phí cho người dân theo Chỉ thị 17/CT-TTg: đo huyết áp, đường huyết, "
        "khám tổng quát và tư vấn. ") * 4


class ScriptedRasa:
    """Rasa's REST channel for a conversation long enough to be taller than the screen: every
    message is answered with a long text and a recording; "hoi" with a question and its buttons."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"status": "ok"})
        text = json.loads(request.content)["message"]
        if self.down:
            raise httpx.ConnectError("the assistant is unreachable")
        self.seen.append(text)
        if text == "hoi":
            return httpx.Response(200, json=[{"text": QUESTION, "buttons": CHOICES}])
        if text == "cccd":  # a response with `custom: {input: numeric}`: Rasa sends the custom part after
            return httpx.Response(200, json=[{"text": "Số căn cước công dân (12 chữ số)?"},
                                             {"custom": {"input": "numeric"}}])
        return httpx.Response(200, json=[
            {"text": f"{LONG}({len(self.seen)})"},
            {"custom": {"audio": {"url": "/audio/clip.mp3", "language": "tyz",
                                  "note": "Tin này chưa có bản ghi tiếng Tày; mời nghe bằng tiếng Việt."}}}])


@pytest.fixture(scope="module")
def scripted() -> ScriptedRasa:
    return ScriptedRasa()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, scripted: ScriptedRasa) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("API_URL", "http://127.0.0.1:9")
        workdir = tmp_path_factory.mktemp("web-chat")
        settings = GatewaySettings(gateway_database_url=f"sqlite:///{workdir / 'gateway.db'}",
                                   rasa_url="http://rasa.test", rasa_retry_s=0.0, rasa_timeout_s=5.0)
        with app_in_thread(create_app(settings, rasa_transport=httpx.MockTransport(scripted))) as base:
            yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


def bot_messages(driver: Any) -> int:
    return int(driver.execute_script("return document.querySelectorAll('.msg.bot').length"))


def say(driver: Any, text: str) -> None:
    """Types `text` and presses Enter (the keyboard's send key), then waits for the answer."""
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    before = bot_messages(driver)
    field = driver.find_element("id", "text")
    field.send_keys(text, Keys.ENTER)
    WebDriverWait(driver, 15).until(lambda d: bot_messages(d) > before)


def fresh_chat(driver: Any, base: str, query: str = "") -> None:
    """A browser that never chatted here opens the chat (and is greeted)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base}/chat/favicon.svg")
    driver.execute_script("localStorage.clear(); sessionStorage.clear()")
    driver.get(f"{base}/chat{query}")
    WebDriverWait(driver, 15).until(lambda d: bot_messages(d) >= 1)


def problems(driver: Any) -> dict[str, list[Any]]:
    """What is wrong with the page as shown now (empty lists when nothing)."""
    return {"overflow": overflowing(driver),
            "unusable": unusable(driver, "#send button, #text, #bigger, .buttons:not(.old) button, audio"),
            "axe": axe_violations(driver)}


# (width, zoom, text size, the chat's own A+)
SCREENS = [(412, 1.0, 1.0, False), (412, 1.0, 2.0, False), (412, 2.0, 1.0, False), (412, 1.0, 1.0, True),
           (412, 1.0, 2.0, True), (320, 1.0, 1.0, False), (320, 1.0, 2.0, False), (320, 1.0, 2.0, True)]


def test_on_a_small_phone_with_large_text_nothing_is_cut_off_and_every_player_stays(
        gateway: str, browser: Any, scripted: ScriptedRasa) -> None:
    phone(browser, 412)
    fresh_chat(browser, gateway)
    for text in ("thong tin", "them", "nua", "hoi"):  # taller than the screen, ending on a question
        say(browser, text)
    try:
        for width, zoom, text_size, big in SCREENS:
            phone(browser, width, zoom=zoom, text=text_size)
            browser.execute_script("document.documentElement.classList.toggle('big', arguments[0])", big)
            for position in ("top", "bottom"):  # the first recordings, scrolled back to, and the newest
                browser.execute_script("var log = document.getElementById('log');"
                                       "log.scrollTop = arguments[0] === 'top' ? 0 : log.scrollHeight", position)
                seen = problems(browser)
                assert seen == {"overflow": [], "unusable": [], "axe": []}, (width, zoom, text_size, big, seen)
            heights = browser.execute_script(
                "return Array.from(document.querySelectorAll('audio'), a => a.getBoundingClientRect().height)")
            assert len(heights) == 4 and min(heights) >= 40, heights
    finally:
        phone(browser, 412)
        browser.execute_script("document.documentElement.classList.remove('big')")


def test_the_widget_on_a_portal_opens_and_passes_the_audit(gateway: str, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    portal = tmp_path / "portal.html"
    portal.write_text(f"""<!doctype html><html lang="vi"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1"><title>Cổng thông tin xã</title></head>
        <body><main><h1>Xã Hữu Liên</h1><p>Tin tức của xã.</p></main>
        <script src="{gateway}/chat/widget.js?lang=vi"></script></body></html>""", encoding="utf-8")
    for width, text_size in ((412, 1.0), (320, 2.0)):
        phone(browser, width, text=text_size)
        browser.get(portal.as_uri())
        button = browser.find_element("css selector", "button[aria-controls='ksk-chat-panel']")
        assert button.get_attribute("aria-expanded") == "false"
        button.send_keys(Keys.ENTER)
        assert button.get_attribute("aria-expanded") == "true"
        assert browser.find_element("id", "ksk-chat-panel").is_displayed()
        seen = {"overflow": overflowing(browser), "unusable": unusable(browser, "button"),
                "axe": axe_violations(browser)}
        assert seen == {"overflow": [], "unusable": [], "axe": []}, (width, text_size, seen)
    phone(browser, 412)


def test_a_reload_shows_the_conversation_and_asks_the_open_question_again_without_a_greeting(
        gateway: str, browser: Any, scripted: ScriptedRasa) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    fresh_chat(browser, gateway)
    say(browser, "hoi")
    sent = len(scripted.seen)
    browser.refresh()
    WebDriverWait(browser, 15).until(lambda d: d.find_elements("css selector", ".buttons:not(.old) button"))
    assert len(scripted.seen) == sent, "the reloaded page sent nothing by itself (no greeting into the form)"
    texts = [e.text for e in browser.find_elements("css selector", ".msg")]
    assert texts.count(QUESTION) == 2 and texts[-2].startswith("Bác/anh/chị đang trả lời"), texts[-4:]
    active = [b.text for b in browser.find_elements("css selector", ".buttons:not(.old) button")]
    assert active == [c["title"] for c in CHOICES]
    # The restored question's button works: the choice goes to the assistant as its payload.
    browser.find_elements("css selector", ".buttons:not(.old) button")[0].click()
    WebDriverWait(browser, 15).until(lambda d: len(scripted.seen) == sent + 1)
    assert scripted.seen[-1] == "/choose_self"
    WebDriverWait(browser, 15).until(lambda d: d.find_elements("css selector", ".msg.me")[-1].text == "Cho bản thân")


def test_an_old_button_says_its_question_is_over_and_shows_the_current_choices(
        gateway: str, browser: Any, scripted: ScriptedRasa) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    fresh_chat(browser, gateway)
    say(browser, "hoi")
    say(browser, "hoi")  # the same question again: the first one's buttons are now old
    sent = len(scripted.seen)
    old = browser.find_elements("css selector", ".buttons.old button")
    assert old and all(b.get_attribute("aria-disabled") == "true" for b in old)
    browser.execute_script("arguments[0].scrollIntoView()", old[0])
    old[0].click()
    WebDriverWait(browser, 5).until(lambda d: "câu hỏi trước" in d.find_elements("css selector", ".msg")[-1].text)
    assert len(scripted.seen) == sent, "an old button sends nothing"
    last = browser.execute_script("return document.getElementById('log').lastElementChild.className")
    assert last == "buttons", "the current choices follow the note"
    assert browser.switch_to.active_element.text == CHOICES[0]["title"]


def test_a_message_whose_answer_was_lost_is_sent_again_and_answered_once(
        gateway: str, browser: Any, scripted: ScriptedRasa) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    fresh_chat(browser, gateway)
    # What the page posts: the retry is marked as sent again (the gateway looks for an earlier answer to
    # it), its first sending is not.
    browser.execute_script("""
        window.posted = [];
        var real = window.fetch;
        window.fetch = function (path, init) {
          if (path === '/chat/messages') window.posted.push(JSON.parse(init.body));
          return real.apply(this, arguments);
        };""")
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    try:
        browser.find_element("id", "text").send_keys("mat mang\n")
        retry = WebDriverWait(browser, 15).until(
            lambda d: next((b for b in d.find_elements("css selector", ".buttons button")
                            if "Gửi lại" in b.text), None))
    finally:
        browser.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    # What the tab keeps for a reload meanwhile is the resend, marked as one.
    pending = browser.execute_script("return JSON.parse(sessionStorage.getItem('ksk-pending'))")
    assert pending["body"]["text"] == "mat mang" and pending["body"]["again"] is True
    sent = len(scripted.seen)
    retry.click()
    WebDriverWait(browser, 15).until(lambda d: len(scripted.seen) > sent)
    WebDriverWait(browser, 15).until(lambda d: any(e.text.endswith(f"({len(scripted.seen)})")
                                                   for e in d.find_elements("css selector", ".msg.bot")))
    assert scripted.seen[sent:] == ["mat mang"]
    posted = browser.execute_script("return window.posted")
    assert [(p["text"], p["again"]) for p in posted] == [("mat mang", False), ("mat mang", True)]
    assert posted[0]["message_id"] == posted[1]["message_id"]


def test_the_length_limit_is_shown_and_counts_down(gateway: str, browser: Any) -> None:
    fresh_chat(browser, gateway)
    left = browser.find_element("id", "left")
    assert left.text == "Còn 1000 trên 1000 ký tự"
    browser.find_element("id", "text").send_keys("x" * 950)
    assert left.text == "Còn 50 trên 1000 ký tự" and "near" in left.get_attribute("class")
    assert browser.find_element("id", "text").get_attribute("aria-describedby") == "left"


def test_a_question_that_wants_digits_opens_the_digit_keyboard_and_the_next_one_does_not(
        gateway: str, browser: Any) -> None:
    fresh_chat(browser, gateway)
    field = browser.find_element("id", "text")
    assert field.get_attribute("inputmode") in (None, "", "text")
    say(browser, "cccd")
    assert field.get_attribute("inputmode") == "numeric"
    browser.refresh()  # the question on screen after a reload keeps its keyboard
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(browser, 15).until(lambda d: d.find_element("id", "text").get_attribute("inputmode") == "numeric")
    say(browser, "003175123987")
    assert browser.find_element("id", "text").get_attribute("inputmode") == "text"


def test_hold_to_talk_records_with_the_microphone_and_the_assistant_answers_what_was_said(
        tmp_path: Path, scripted: ScriptedRasa) -> None:
    """Chromium's fake microphone plays a natural Vietnamese recording; the resident holds the button
    while it speaks; the browser's WebM/Opus goes to the gateway, viet-asr hears it, and the assistant
    gets the words."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    from gateway.speech import OfflineEngine
    from tests.support.speech_clips import natural_clips, words_of

    if not OfflineEngine.available():
        pytest.skip("viet-asr or ffmpeg is missing") if not IN_CI else pytest.fail("CI=true and viet-asr is missing")
    clip = next(c for c in natural_clips() if c.name.startswith("Ly"))  # heard word for word from the file
    microphone = tmp_path / "microphone.wav"
    microphone.write_bytes(clip.wav)
    settings = GatewaySettings(gateway_database_url=f"sqlite:///{tmp_path / 'gateway.db'}", rasa_url="http://rasa.test",
                               rasa_retry_s=0.0, rasa_timeout_s=5.0)
    flags = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
             f"--use-file-for-fake-audio-capture={microphone}")
    with app_in_thread(create_app(settings, rasa_transport=httpx.MockTransport(scripted),
                                  speech=OfflineEngine())) as base, chromium(flags=flags) as driver:
        fresh_chat(driver, base)
        talk = driver.find_element("id", "talk")
        assert talk.is_displayed() and talk.get_attribute("aria-pressed") == "false"
        before = len(scripted.seen)
        # Held as long as the recording lasts (the fake microphone plays it in a loop).
        ActionChains(driver).click_and_hold(talk).pause(clip.seconds + 0.4).release().perform()
        # Not a question: said back first, and sent on only with "yes".
        WebDriverWait(driver, 60).until(lambda d: any(b.text == "Đúng, tôi nói vậy" for b in d.find_elements(
            "css selector", ".buttons:not(.old) button")))
        assert len(scripted.seen) == before
        next(b for b in driver.find_elements("css selector", ".buttons:not(.old) button")
             if b.text == "Đúng, tôi nói vậy").click()
        WebDriverWait(driver, 60).until(lambda d: len(scripted.seen) > before)
        heard = scripted.seen[-1]
        said = set(words_of(clip.transcript))
        assert len(said & set(heard.split())) / len(said) >= 0.7, (clip.transcript, heard)
        assert any(heard in e.text for e in driver.find_elements("css selector", ".msg.me"))
        assert any(e.text.startswith("🎤 Có phải") for e in driver.find_elements("css selector", ".msg.bot"))


def test_the_location_button_shares_the_phones_position_once_and_gets_an_answer(
        gateway: str, browser: Any, scripted: ScriptedRasa) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    fresh_chat(browser, gateway)
    browser.execute_cdp_cmd("Browser.grantPermissions", {"origin": gateway, "permissions": ["geolocation"]})
    browser.execute_cdp_cmd("Emulation.setGeolocationOverride", {"latitude": 21.7042, "longitude": 106.3517,
                                                                  "accuracy": 50})
    sent = len(scripted.seen)
    before = bot_messages(browser)
    browser.find_element("id", "where").click()
    WebDriverWait(browser, 15).until(lambda d: bot_messages(d) > before)
    assert browser.find_elements("css selector", ".msg.me")[-1].text == "📍 Vị trí của tôi"
    # No API here: the gateway asks for the commune's name instead; the assistant got nothing.
    assert "nhắn tên xã" in browser.find_elements("css selector", ".msg.bot")[-1].text
    assert len(scripted.seen) == sent


def test_a_reload_while_a_message_is_on_its_way_sends_it_again_once(
        gateway: str, browser: Any, scripted: ScriptedRasa) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    fresh_chat(browser, gateway)
    sent = len(scripted.seen)
    # The page went away after sending and before the answer came: what it left in this tab.
    session = browser.execute_script("return localStorage.getItem('ksk-session')")
    browser.execute_script("sessionStorage.setItem('ksk-pending', JSON.stringify(arguments[0]))", {
        "body": {"session_id": session, "text": "mat giua chung", "message_id": "m-inflight-01"},
        "shown": "mat giua chung"})
    browser.refresh()
    WebDriverWait(browser, 15).until(lambda d: len(scripted.seen) == sent + 1)
    assert scripted.seen[-1] == "mat giua chung"
    browser.refresh()  # answered now: the history has it, nothing is sent again
    WebDriverWait(browser, 15).until(lambda d: any(e.text == "mat giua chung"
                                                   for e in d.find_elements("css selector", ".msg.me")))
    assert len(scripted.seen) == sent + 1
    assert [e.text for e in browser.find_elements("css selector", ".msg.me")].count("mat giua chung") == 1
