"""Texts from the content service in Rasa's NLG (with the domain as fallback), languages, audio and
replays — against a fake content API over HTTP."""

from __future__ import annotations

import asyncio
from functools import cache
from pathlib import Path
from typing import Any

from aiohttp import web
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet as CoreSlotSet
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa_sdk import Tracker
from rasa_sdk.events import SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.api import ApiClient
from actions.content import ContentCache
from actions.faq import ActionAnswerFaq
from actions.language import ActionChooseLanguage, ActionReplayAudio, ActionSessionStart
from bot.nlg import ContentNLG
from common.chat_identity import METADATA_KEY
from tests_rasa.fake_api import bot_domain, chat_token, json_handler, serve, tracker

AUDIO = "http://api.test/api/v1/audio/files"
GREET_TYZ = {"url": f"{AUDIO}/a.mp3", "ogg_url": f"{AUDIO}/a.ogg", "placeholder": False}
GREET_VI = {"url": f"{AUDIO}/v.mp3", "ogg_url": f"{AUDIO}/v.ogg", "placeholder": False}
SPEECH = {"mp3_url": f"{AUDIO}/tts-1.mp3", "ogg_url": f"{AUDIO}/tts-1.ogg", "engine": "espeak-ng"}


@cache
def domain() -> Domain:
    return Domain.load(str(Path(__file__).parents[1] / "bot" / "domain.yml"))


def core_tracker(**slots: Any) -> DialogueStateTracker:
    # The resident's last message carries the chat the gateway signed: speech is asked for on its behalf.
    said = UserUttered("alo", metadata={"channel": "zalo", METADATA_KEY: chat_token("nlg-test")})
    state = DialogueStateTracker.from_events("nlg-test", [said], slots=domain().slots)
    for name, value in slots.items():
        state.update(CoreSlotSet(name, value))
    return state


def bundle(messages: dict[str, dict[str, str]], audio: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"version": "v1", "messages": messages, "audio": audio or {}}


class SpeechLog:
    def __init__(self, status: int = 200) -> None:
        self.texts: list[str] = []
        self.status = status

    async def handler(self, request: web.Request) -> web.StreamResponse:
        self.texts.append((await request.json())["text"])
        if self.status != 200:
            return web.json_response({"code": "speech_unavailable", "message": "x"}, status=self.status)
        return web.json_response(SPEECH)


def generate(routes: dict[tuple[str, str], Any] | None, response: str, state: DialogueStateTracker,
             **kwargs: Any) -> dict[str, Any] | None:
    async def scenario(base: str) -> dict[str, Any] | None:
        nlg = ContentNLG(domain=domain(), content=ContentCache(base, refresh_s=60), client=ApiClient(base))
        return await nlg.generate(response, state, "rest", **kwargs)

    if routes is None:  # content service down: nothing listens at this address
        return asyncio.run(scenario("http://127.0.0.1:9"))
    return asyncio.run(serve(routes, scenario))


def test_published_texts_replace_the_domain_and_fill_slots() -> None:
    seed = domain().responses["utter_booking_confirmed"][0]["text"]
    published = "Đặt xong rồi ạ! Mã: {code}. Giờ: {when}. Nơi khám: {place}."
    routes = {("GET", "/content/bundle"): json_handler(bundle({
        "utter_booking_confirmed": {"vi": published, "hmn": "Ua tiav lawm! {code}"},
        "utter_greet": {"vi": domain().responses["utter_greet"][0]["text"]}}))}
    state = core_tracker()
    reply = generate(routes, "utter_booking_confirmed", state, code="KSK-7Q2M", when="7:30 thứ Hai", place="Trạm")
    assert reply is not None and reply["text"] == "Đặt xong rồi ạ! Mã: KSK-7Q2M. Giờ: 7:30 thứ Hai. Nơi khám: Trạm."
    assert seed != reply["text"]
    # Buttons stay those of the domain; a language with its own text gets it.
    greet = generate(routes, "utter_greet", state)
    assert greet is not None and greet["buttons"] == domain().responses["utter_greet"][0]["buttons"]
    hmong = generate(routes, "utter_booking_confirmed", core_tracker(language="hmn"), code="X1", when="", place="")
    assert hmong is not None and hmong["text"].startswith("Ua tiav lawm! X1")


def test_the_domain_text_is_used_when_the_content_service_is_down() -> None:
    reply = generate(None, "utter_help", core_tracker())
    assert reply is not None and reply["text"] == domain().responses["utter_help"][0]["text"]
    assert "custom" not in reply


def test_a_minority_language_gets_its_clip_else_vietnamese_audio_said_plainly() -> None:
    speech = SpeechLog()
    routes = {("GET", "/content/bundle"): json_handler(bundle({}, {"utter_greet": {"tyz": GREET_TYZ, "vi": GREET_VI},
                                                                   "utter_help": {"vi": GREET_VI}})),
              ("POST", "/audio/speech"): speech.handler}
    tay = generate(routes, "utter_greet", core_tracker(language="tyz", audio_wanted=True))
    assert tay is not None and tay["custom"]["audio"]["language"] == "tyz" and "note" not in tay["custom"]["audio"]
    assert tay["custom"]["audio"]["ogg_url"].endswith("a.ogg")
    nung = generate(routes, "utter_help", core_tracker(language="nut", audio_wanted=True))
    assert nung is not None and nung["custom"]["audio"]["language"] == "vi"
    assert nung["custom"]["audio"]["note"] == "Tin này chưa có bản ghi tiếng Nùng; mời nghe bằng tiếng Việt."
    # No recording at all: synthesised Vietnamese, with the resident's own details left out.
    slots = {"language": "hmn", "audio_wanted": True, "full_name": "Lò Văn Páo", "cccd": "011058001234",
             "birth_date": "05/03/1958", "phone": "0912345678", "commune": "Xã Thanh Sơn"}
    check = generate(routes, "utter_ask_booking_confirmed", core_tracker(**slots), for_whom="cho bản thân",
                     full_name="Lò Văn Páo", cccd="011058001234", birth_date="05/03/1958", phone="0912345678",
                     commune="Xã Thanh Sơn", when="Thứ Tư, 25/11/2026, 7:30–11:00", place="Trạm Y tế xã Thanh Sơn",
                     address="Thôn Bản Chu")
    assert check is not None and "011058001234" in check["text"]  # the resident reads it…
    assert check["custom"]["audio"]["synthetic"] and check["custom"]["audio"]["note"].startswith("Tin này chưa có")
    assert speech.texts and not any(v in speech.texts[-1] for v in ("011058001234", "0912345678", "Lò Văn Páo",
                                                                     "05/03/1958"))  # …but it is not spoken
    assert "Xã Thanh Sơn" in speech.texts[-1]
    # Vietnamese readers who did not ask for audio get text only.
    plain = generate(routes, "utter_greet", core_tracker(language="vi"))
    assert plain is not None and "custom" not in plain


def test_without_any_audio_the_text_says_so() -> None:
    routes = {("GET", "/content/bundle"): json_handler(bundle({})),
              ("POST", "/audio/speech"): SpeechLog(status=503).handler}
    reply = generate(routes, "utter_help", core_tracker(language="ium", audio_wanted=True))
    assert reply is not None and "custom" not in reply
    assert reply["text"].endswith("(Chưa gửi được giọng đọc cho tin này; xin đọc chữ hoặc nhờ người thân đọc giúp.)")


def run(action: Any, routes: dict[tuple[str, str], Any], track: Tracker) -> tuple[CollectingDispatcher, list[Any]]:
    dispatcher = CollectingDispatcher()

    async def scenario(base: str) -> list[Any]:
        action.client, action.content = ApiClient(base), ContentCache(base)
        return list(await action.run(dispatcher, track, bot_domain()))

    return dispatcher, asyncio.run(serve(routes, scenario))


def test_choosing_a_language_by_name_or_button_is_remembered() -> None:
    dispatcher, events = run(ActionChooseLanguage(), {}, tracker(
        "toi noi tieng tay", [{"entity": "language", "value": "tyz"}], intent="choose_language"))
    assert events == [SlotSet("language", "tyz"), SlotSet("audio_wanted", True)]
    said = dispatcher.messages[0]
    assert said["response"] == "utter_language_chosen" and said["voice_language"] == "tyz"
    assert said["language_name"] == "tiếng Tày"
    dispatcher, events = run(ActionChooseLanguage(), {}, tracker("doi ngon ngu", intent="choose_language"))
    assert events == [] and dispatcher.messages[0]["response"] == "utter_ask_language"
    buttons = bot_domain()["responses"]["utter_ask_language"][0]["buttons"]
    assert [b["title"] for b in buttons] == ["Tiếng Việt", "Tày", "Nùng", "H'Mông", "Dao"]
    _, events = run(ActionChooseLanguage(), {}, tracker("tieng viet", [{"entity": "language", "value": "vi"}]))
    assert events == [SlotSet("language", "vi"), SlotSet("audio_wanted", False)]
    # A new session keeps the preference and nothing else.
    ended = tracker("alo", slots={"language": "hmn", "audio_wanted": True, "cccd": "011058001234"})
    _, events = run(ActionSessionStart(), {}, ended)
    assert events[0] == SessionStarted()
    assert [e for e in events if e.get("event") == "slot"] == [SlotSet("language", "hmn"),
                                                              SlotSet("audio_wanted", True)]
    # A web chat opened in Dao starts in Dao.
    opened = tracker("xin chao", slots={"session_started_metadata": {"channel": "web", "language": "ium"}})
    _, events = run(ActionSessionStart(), {}, opened)
    assert [e for e in events if e.get("event") == "slot"] == [SlotSet("language", "ium"),
                                                              SlotSet("audio_wanted", True)]
    plain = tracker("xin chao", slots={"session_started_metadata": {"channel": "web", "language": "vi"}})
    assert [e for e in run(ActionSessionStart(), {}, plain)[1] if e.get("event") == "slot"] == []


def replay_tracker(events: list[dict[str, Any]], slots: dict[str, Any]) -> Tracker:
    base = tracker("doc cho toi nghe", slots=slots, intent="request_audio")
    return Tracker.from_dict({**base.current_state(), "events": events, "slots": slots})


def test_request_audio_replays_the_last_message() -> None:
    seen: list[web.Request] = []
    clip = {"url": f"{AUDIO}/g.mp3", "ogg_url": f"{AUDIO}/g.ogg", "language": "vi", "placeholder": False}
    routes = {("GET", "/audio/for"): json_handler(clip, seen=seen),
              ("GET", "/content/bundle"): json_handler(bundle({})),
              ("POST", "/audio/speech"): SpeechLog().handler}
    greeted = replay_tracker([{"event": "action", "name": "utter_greet"},
                              {"event": "bot", "text": "Xin chào!", "metadata": {"utter_action": "utter_greet"}}],
                             {"language": "tyz"})
    dispatcher, events = run(ActionReplayAudio(), routes, greeted)
    audio = dispatcher.messages[0]["custom"]["audio"]
    assert audio["url"].endswith("g.mp3") and audio["note"].startswith("Tin này chưa có bản ghi tiếng Tày")
    assert seen[0].query["key"] == "utter_greet" and seen[0].query["lang"] == "tyz"
    assert dispatcher.messages[1]["response"] == "utter_audio_on" and events == [SlotSet("audio_wanted", True)]
    answered = replay_tracker([{"event": "action", "name": "action_answer_faq"},
                               {"event": "bot", "text": "Khám miễn phí."}],
                              {"last_faq_key": "free_of_charge", "audio_wanted": True})
    dispatcher, _ = run(ActionReplayAudio(), routes, answered)
    assert seen[-1].query["key"] == "free_of_charge" and len(dispatcher.messages) == 1
    dispatcher, _ = run(ActionReplayAudio(), routes, replay_tracker([], {}))
    assert dispatcher.messages[0]["response"] == "utter_nothing_to_replay"


def test_faq_answers_come_with_audio_for_listeners_only() -> None:
    hit = {"key": "free_of_charge", "question": "q", "answer": "Khám miễn phí.", "score": 0.9, "language": "vi",
           "needs_review": False, "audio_url": f"{AUDIO}/f.mp3", "audio_ogg_url": f"{AUDIO}/f.ogg",
           "audio_language": "hmn"}
    routes = {("GET", "/faq/search"): json_handler([hit]), ("GET", "/content/bundle"): json_handler(bundle({}))}
    dispatcher, events = run(ActionAnswerFaq(), routes, tracker("kham co mat tien", slots={"language": "hmn"}))
    assert dispatcher.messages[0]["text"] == "Khám miễn phí."
    audio = dispatcher.messages[1]["custom"]["audio"]
    assert audio["language"] == "hmn" and audio["ogg_url"].endswith("f.ogg") and "note" not in audio
    dispatcher, _ = run(ActionAnswerFaq(), routes, tracker("kham co mat tien", slots={"language": "vi"}))
    assert len(dispatcher.messages) == 1


def slow(body: Any, delay_s: float, *, fast_first: int = 0) -> Any:
    """A handler that answers `body` after `delay_s` (the first `fast_first` calls at once)."""
    calls: list[int] = []

    async def handler(_request: web.Request) -> web.StreamResponse:
        calls.append(1)
        if len(calls) > fast_first:
            await asyncio.sleep(delay_s)
        return web.json_response(body)

    handler.calls = calls  # type: ignore[attr-defined]
    return handler


def test_a_content_service_too_slow_to_answer_keeps_the_last_texts_and_the_reply_goes_out() -> None:
    # Under load the API can answer a poll after the cache's timeout; on Python 3.10 that timeout is
    # asyncio's own error, which once escaped the NLG and cost the booking form its events.
    poll = slow(bundle({"utter_help": {"vi": "Trợ giúp đã sửa."}}), 2.0, fast_first=1)

    async def scenario(base: str) -> list[Any]:
        content = ContentCache(base, refresh_s=0, timeout_s=0.2)
        nlg = ContentNLG(domain=domain(), content=content, client=ApiClient(base))
        return [await nlg.generate("utter_help", core_tracker(), "rest") for _ in range(2)]

    replies = asyncio.run(serve({("GET", "/content/bundle"): poll}, scenario))
    assert len(poll.calls) == 2  # the second poll was made, and answered too late
    assert [r["text"] if r else None for r in replies] == ["Trợ giúp đã sửa."] * 2


def test_an_api_call_that_times_out_is_unavailable_not_a_crash() -> None:
    async def scenario(base: str) -> Exception | None:
        try:
            await ApiClient(base, timeout_s=0.2).search_faq("lịch khám", "vi", channel="web")
        except Exception as error:  # noqa: BLE001 - the type is what is checked
            return error
        return None

    error = asyncio.run(serve({("GET", "/faq/search"): slow([], 2.0)}, scenario, chat_required=False))
    assert type(error).__name__ == "ApiUnavailable"


def test_the_note_that_audio_is_vietnamese_is_said_once_per_conversation() -> None:
    """A Nùng listener hears most messages in Vietnamese: told once, the first time, not after every message."""
    from rasa.shared.core.events import BotUttered
    from rasa.shared.core.events import SessionStarted as CoreSessionStarted

    speech = SpeechLog()
    routes = {("GET", "/content/bundle"): json_handler(bundle({}, {"utter_help": {"vi": GREET_VI},
                                                                   "utter_greet": {"vi": GREET_VI}})),
              ("POST", "/audio/speech"): speech.handler}

    async def scenario(base: str) -> list[dict[str, Any] | None]:
        nlg = ContentNLG(domain=domain(), content=ContentCache(base, refresh_s=60), client=ApiClient(base))
        conversation = core_tracker(language="nut", audio_wanted=True)
        first = await nlg.generate("utter_help", conversation, "rest")
        # A second message of the same turn (an action's several messages are generated before any is
        # recorded): the note was just given.
        same_turn = await nlg.generate("utter_greet", conversation, "rest")
        conversation.update(BotUttered(first["text"] if first else "", data=first))
        conversation.update(UserUttered("them", metadata={"channel": "zalo", METADATA_KEY: chat_token("nlg-test")}))
        next_turn = await nlg.generate("utter_help", conversation, "rest")
        # A new conversation (an hour of silence) explains it again, once.
        conversation.update(CoreSessionStarted())
        # The listening preference moves on to the new session (action_session_start).
        conversation.update(CoreSlotSet("language", "nut"))
        conversation.update(CoreSlotSet("audio_wanted", True))
        conversation.update(UserUttered("alo", metadata={"channel": "zalo", METADATA_KEY: chat_token("nlg-test")}))
        new_session = await nlg.generate("utter_help", conversation, "rest")
        return [first, same_turn, next_turn, new_session]

    first, same_turn, next_turn, new_session = asyncio.run(serve(routes, scenario))
    audios = [message["custom"]["audio"] for message in (first, same_turn, next_turn, new_session) if message]
    assert len(audios) == 4 and all(audio["language"] == "vi" for audio in audios)  # the audio always comes
    assert audios[0]["note"] == "Tin này chưa có bản ghi tiếng Nùng; mời nghe bằng tiếng Việt."
    assert [("note" in audio) for audio in audios] == [True, False, False, True]


def test_faq_audio_skips_the_note_once_the_conversation_has_had_it() -> None:
    hit = {"key": "free_of_charge", "question": "q", "answer": "Khám miễn phí.", "score": 0.9, "language": "vi",
           "needs_review": False, "audio_url": f"{AUDIO}/f.mp3", "audio_ogg_url": f"{AUDIO}/f.ogg",
           "audio_language": "vi"}
    routes = {("GET", "/faq/search"): json_handler([hit]), ("GET", "/content/bundle"): json_handler(bundle({}))}
    fresh = tracker("kham co mat tien", slots={"language": "tyz"})
    dispatcher, _ = run(ActionAnswerFaq(), routes, fresh)
    assert dispatcher.messages[1]["custom"]["audio"]["note"].startswith("Tin này chưa có bản ghi tiếng Tày")
    state = fresh.current_state()
    noted = {"event": "bot", "text": "Xin chào", "data": {"custom": {"audio": {"note": "Tin này chưa có…"}}}}
    later = Tracker.from_dict({**state, "events": [noted, *state["events"]]})
    dispatcher, _ = run(ActionAnswerFaq(), routes, later)
    audio = dispatcher.messages[1]["custom"]["audio"]
    assert audio["url"].endswith("f.mp3") and "note" not in audio


def test_a_resident_who_spoke_is_answered_in_kind_with_their_numbers_left_unspoken() -> None:
    speech = SpeechLog()
    routes = {("GET", "/content/bundle"): json_handler(bundle({})), ("POST", "/audio/speech"): speech.handler}
    spoke = UserUttered("dat lich kham", metadata={"channel": "telegram", "input": "voice", "asr_confidence": 0.8,
                                                  METADATA_KEY: chat_token("nlg-test")})
    state = DialogueStateTracker.from_events("nlg-test", [spoke], slots=domain().slots)
    state.update(CoreSlotSet("cccd", "011058001234"))
    reply = generate(routes, "utter_ask_phone", state)
    assert reply is not None and reply["custom"]["audio"]["synthetic"] and reply["custom"]["input"] == "numeric"
    assert "note" not in reply["custom"]["audio"]  # Vietnamese to a Vietnamese speaker: nothing to explain
    typed = generate(routes, "utter_ask_phone", core_tracker())
    assert typed is not None and "audio" not in typed.get("custom", {})  # a typed message gets text only
    assert speech.texts and "011058001234" not in " ".join(speech.texts)
