"""What a resident can say in the middle of any form: stop ("thôi", "hủy") or fix an earlier answer
("sửa ngày sinh", "nhập lại số điện thoại 0912 345 678").

Rasa calls the form's validation action after every message while the form is active, even when
nothing was extracted, so checking here works whatever intent the message was classified as —
which matters, since "thôi" can come out as `deny`, `goodbye` or `inform` depending on the step.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from typing import TYPE_CHECKING, Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT, FormValidationAction
from rasa_sdk.types import DomainDict

from actions.questions import stale_tap, take_back
from actions.speaking import Speaks
from vntext import fold, tokens

# Whole messages (folded tokens) that end a form. "hủy" ends the booking form but is an answer in
# the cancel form, so each form picks its own set.
STOP_WORDS = frozenset({
    "thoi", "thoi khong", "thoi khong can", "thoi khong can nua", "thoi bo di", "thoi de sau", "thoi nhe",
    "thoi khong dat nua", "thoi khong doi nua", "thoi khong huy nua", "dung", "dung lai", "ngung", "ngung lai",
    "thoat", "ket thuc", "khong dat nua", "khong muon dat nua", "khong dat lich nua", "khong doi nua",
    "khong huy nua", "khong lam nua", "de sau", "stop", "cancel", "exit", "quit",
    # "khỏi": never mind
    "khoi", "khoi di", "khoi can", "khoi nhe", "thoi khoi", "khoi dat", "khoi dat nua",
    "dung lai di", "dung lai nhe", "thoi dung lai", "khong xem nua", "thoi khong xem nua", "khong dang ky nua",
    "thoi khong dang ky nua", "thoi de do", "de nguyen", "thoi de nguyen",
    # Putting it off ("để mai", "để khi khác"): the form ends now, nothing typed is kept.
    "de sau nhe", "thoi de sau nhe", "de mai", "thoi de mai", "de khi khac", "thoi de khi khac", "de hom khac",
    "thoi de hom khac", "de luc khac", "thoi de luc khac",
})
CANCEL_WORDS = frozenset({"huy", "huy bo", "huy di", "huy het", "huy dang ky", "thoi huy di", "huy dat lich"})

# Field names as residents say them (folded token sequences), longest first so "ngay sinh" wins over "ngay".
FIELD_WORDS: dict[str, tuple[str, ...]] = {
    "full_name": ("ho va ten", "ho ten", "ten"),
    "birth_date": ("ngay thang nam sinh", "ngay sinh", "nam sinh"),
    "cccd": ("so dinh danh", "can cuoc", "dinh danh"),
    "phone": ("so dien thoai", "dien thoai", "so dt"),
    "commune": ("xa", "phuong"),
    "session_id": ("buoi kham", "ngay kham", "gio kham", "buoi", "lich kham"),
}
# What a "Sửa …" button names (entity `fix_field`, never typed): the answer to ask again.
FIX_FIELD = "fix_field"
# Verbs of correcting. "doi" is only "đổi" when typed so or without any marks ("đồi", "đôi", "đợi" are not).
FIX_WORDS = frozenset({"sua", "nhap", "ghi", "chinh", "sai", "doi", "chon", "nham"})
_NEGATING_FIX = frozenset({"khong", "chang", "cha", "chua", "dau"})
_NOT_CHANGE = frozenset({"đồi", "đôi", "đợi", "đội", "dội", "dồi", "nhâm", "nhấm", "nhám", "nhăm"})
# Slots whose value depends on another: a different commune has different sessions.
DEPENDENTS = {"commune": ("commune_id", "session_id")}
# Words around the new value: "sửa ngày sinh thành 05/03/1958", "số điện thoại sai rồi".
_FILLERS = frozenset({"thanh", "la", "lai", "moi", "dung", "cho", "toi", "minh", "di", "nhe", "a", "sai", "roi",
                      "nham", "bi", "oi", "giup", "em", "chau"})


def loop_before_latest_message(tracker: Tracker) -> str | None:
    """The form that was running when the resident sent the latest message (not one it opened)."""
    active: str | None = None
    before: str | None = None
    for event in tracker.events:
        if event.get("event") == "active_loop":
            active = event.get("name")
        elif event.get("event") == "user":
            before = active
    return before


# Polite particles that may close a stop word ("thôi ạ", "để mai nhé").
_PARTICLES = frozenset({"nhe", "nha", "nhen", "a", "nhi"})
_LEADING = frozenset({"da", "vang", "u", "uh"})
# What one does in a form: "không khai nữa", "không muốn đăng ký khám nữa", "ko làm tiếp". Knowing or
# having is not among them: "không nhớ nữa", "không có số nữa", "không sửa gì nữa" are answers.
_FORM_VERBS = r"(?:dat|dat lich|khai|lam|dang ky|xem|doi|huy|xoa|tim|kham|dien|nhap|ghi|chon|tra loi|tra cuu|tra|hoi)"
# Stops said in a sentence, over the folded tokens: "thôi không khai nữa", "khỏi tìm nữa", "để hôm khác
# chọn", "tạm dừng", "khoan đã, để tôi nghĩ", "thôi giữ như cũ". Each needs a word of ending, putting
# off or holding back, and the whole message must be made of such phrases: "không có số điện thoại" or
# "để mai đi khám được không" are answers or questions, not stops; a bare "dung" is left to the word
# list ("đúng nhé" is a yes).
_STOPPING = (
    r"(?:(?:bac|toi|em|chau|minh|con|anh|chi|co|chu|ong|ba) )?(?:khong|chang|cha)(?: muon)?"
    rf" {_FORM_VERBS}(?: {_FORM_VERBS})? (?:nua|tiep)",
    r"(?:khong|chang)(?: muon)? tiep tuc",
    rf"khoi(?: {_FORM_VERBS}| can)(?: nua)?", r"khoi \w+ nua",
    r"(?:tam dung|dung lai|dung di|dung o day|dung tai day|ngung lai|ket thuc|thoat(?: ra)?)",
    r"de (?:hom|luc|khi|bua|dip|dot|lan) (?:khac|sau)(?: \w+)?",
    r"de (?:mai|sau)(?: (?:tinh|lam|chon|khai|dat|xem))?",
    r"de (?:toi|chieu|trua|mai|sau) ve (?:tinh|lam|chon|khai|dat|xem)",
    # "thôi không khai", "chưa muốn làm": not now, said without "nữa"; "thôi, tôi nghĩ lại": changed their mind.
    rf"thoi (?:khong|chang)(?: muon)? {_FORM_VERBS}", rf"chua (?:muon|can) {_FORM_VERBS}",
    r"(?:(?:toi|bac|em|chau|minh|con) )?nghi lai(?: roi| da)?",
    # Busy or thinking it over: "đang bận, lát nhắn lại", "tí nữa làm tiếp", "để bác nghĩ đã", "hôm khác
    # bác làm", "để hỏi con cháu đã rồi tính"; "đừng hỏi nữa" ("dung" before a form verb and "nữa").
    # ("bản", "bạn" and "mai" alone are answers: only "đang bận", "bận rồi"; "mai" with what is put off.)
    r"(?:(?:toi|bac|em|chau|minh|con) )?(?:dang ban(?: roi| lam| qua)?|ban (?:roi|lam|qua))",
    r"(?:ti|chut|lat) nua",
    # (Not "tối": folded it is "tôi", and "tôi nói", "tôi tính" are not stops.)
    r"(?:lat|mai|chieu|luc khac|ti nua|chut nua|lat nua) (?:nhan(?: lai)?|noi(?: tiep)?|tinh|lam tiep|khai tiep"
    r"|tra loi(?: sau)?)",
    r"de (?:toi|bac|em|chau|minh|con) (?:nghi|tinh)(?: them| lai| ky)?(?: da| sau| roi tinh)?",
    # ("hôm khác khám" at the reschedule form's question is an answer: wanting another day.)
    r"(?:de )?hom (?:khac|sau) (?:toi|bac|em|chau|minh|con) (?:lam|tinh|khai|tra loi)(?: tiep)?",
    r"de (?:(?:toi|bac|em|chau|minh|con) )?hoi(?: \w+){1,3}(?: da)?(?: roi)? tinh",
    rf"dung {_FORM_VERBS} nua",
    # Not a bare "bỏ qua" (skip this question) or "bo di" ("bố đi": father goes, an answer).
    r"thoi bo (?:qua|di)", r"stop(?: lai)?", r"thoi(?: khoi)? cam on",
    r"khoan(?: da)?(?: de (?:toi|bac|em|chau|minh|con) (?:nghi|xem|hoi)(?: \w+)?)?",
    r"giu (?:nhu cu|nguyen)",
)
_STOP_PHRASE = re.compile(
    r"(?:(?:thoi|thui|u|uh|vay|da|vang|bo di) )*(?:{0})(?: (?:{0}))*(?: (?:nua|thoi|dau|nhe|nha|a|di|nhi))*".format(
        "|".join(_STOPPING)))
# Words typed with marks that fold into a stop word but mean something else: "Đúng" (yes, right) is not
# "dừng" (stop), "Khôi" a name, "khói" smoke, "khởi" start — none of them is "khỏi" (never mind).
_MARKED_NOT_STOP = frozenset({"đúng", "khôi", "khói", "khởi", "khối", "đúng đúng", "dũng", "dùng", "dụng"})


def is_stop(text: str, words: frozenset[str]) -> bool:
    """Whether the message ends the form: one of `words` (a polite particle after it allowed) or a stop
    said in a sentence. Never a question ("để mai à?"), nor a message with "đúng" (right) typed in it."""
    if text.strip().endswith("?"):
        return False
    marked = re.sub(r"\W", " ", unicodedata.normalize("NFC", text).lower()).split()
    while len(marked) > 1 and fold(marked[-1]) in _PARTICLES:
        marked.pop()
    if " ".join(marked) in _MARKED_NOT_STOP or "đúng" in marked:
        return False
    typed = tokens(text)
    said = typed
    # "dạ thôi", "vâng thôi": the polite word before says nothing more ("u dung" is "ừ đúng": kept whole).
    while len(said) > 1 and said[0] in _LEADING and said[1] != "dung":
        said = said[1:]
    # "để mai nhé", "thôi ạ": a polite particle at the end does not change what is said. Not for a bare
    # "dung": "dung a" typed without marks is far likelier "đúng ạ" (right) than "dừng ạ".
    shortest = 2 if said[:1] == ["dung"] and marked[:1] != ["dừng"] else 1
    while len(said) > shortest and said[-1] in _PARTICLES and " ".join(said) not in words:
        said = said[:-1]
    if " ".join(said) in words:
        return True
    # A name written as one ("Mai Tính", "Bàn Lâm"), each word capitalised, is an answer, not a sentence.
    written = text.split()
    if len(written) > 1 and all(word[:1].isupper() for word in written):
        return False
    return bool(_STOP_PHRASE.fullmatch(" ".join(typed)))


YES, NO, UNCLEAR = "yes", "no", "unclear"
# A clause that says something else than the deed or a bare yes/no ("à mà thôi", "khoan đã").
_OTHER = "other"
# A clause of courtesies alone, left out of the answer (_said_of_deed).
_COURTESY = (False, "courtesy")
# Yes/no questions a resident may answer with the deed itself: "hủy đi" is yes to "Hủy lịch này?", "đừng
# hủy" and "giữ lại lịch" are no. The classifier reads the deed as a new request (cancel_booking,
# delete_my_data), which the slot took for a yes even when it was "đừng hủy". Folded words of the deed
# for each question's slot.
CONFIRMING_DEEDS: dict[str, tuple[str, ...]] = {
    "cancel_confirmed": ("huy bo", "huy", "bo lich"),
    # Asked only once "erase" was chosen: "rút" (withdraw consent) is another right, not this yes.
    "rights_confirmed": ("xoa bo", "xoa", "bo het"),
    "booking_confirmed": ("dat", "chot", "dang ky", "xac nhan"),
    "consent_booking": ("cho phep", "dong y", "chap nhan", "chap thuan"),
    "consent_record": ("cho phep", "dong y", "chap nhan", "chap thuan", "tra cuu", "tra", "xem"),
}
# Saying no without the deed's word: keeping what the question would undo.
_KEEPING = ("giu lai", "giu nguyen", "de nguyen", "van giu", "van di", "van kham", "van dat", "van muon")
_NEGATING = frozenset({"khong", "chang", "cha", "chua", "khoi", "dung", "khoan", "khum", "hem", "hong", "dau"})
# Negations that fold into other words: "chớ" (don't) is "cho" (give, let) once folded.
_MARKED_NEGATING = frozenset({"chớ"})
# Slots whose yes undoes something (a booking, the data): there a deed named in any other way than a
# plain yes or a plain no is asked again, never left to the intent, which reads it as the deed itself.
_UNDOING = frozenset({"cancel_confirmed", "rights_confirmed"})
# A clause that is only yes or no ("không, hủy đi" is both, so unclear): folded, polite words aside.
_BARE = {"khong": "no", "chua": "no", "u": "yes", "uh": "yes", "vang": "yes", "ok": "yes", "dung roi": "yes",
         "duoc": "yes", "co": "yes"}
_POLITE = frozenset({"da", "a", "nhe", "nha", "oi", "em", "chau", "bac", "cam", "on"})
# Marked words that fold into a polite or agreeing word but are not one: "xem đã" (let me look first),
# "sợ hủy" (afraid it is cancelled), "bố" (father).
_MARKED_NOT_AGREEING = frozenset({"đã", "sợ", "bố", "bổ", "sở", "số"})
# What may come with the deed in a plain yes: "ừ hủy luôn", "chắc chắn xóa hết", "vâng, đặt lịch này đi".
_AGREEING = frozenset({"u", "uh", "vang", "ok", "oke", "co", "dong", "y", "chac", "chan", "luon", "di", "lich", "nay",
                       "do", "giup", "cho", "toi", "het", "roi", "vay", "the", "ngay", "dung", "thoi",
                       # what the deed is done to: "hủy lịch hẹn", "xóa thông tin", "tra sổ sức khỏe"
                       "hen", "kham", "so", "suc", "khoe", "ho", "thong", "tin", "du", "lieu"})
# Words that end a question as typed: "hủy không được à", "xóa rồi hả". Without marks "a" is likelier "ạ".
_ASKING = frozenset({"à", "hả", "hở", "sao", "chứ", "nhỉ", "hông", "không", "chưa"})
# Between a negation and the deed: "không muốn hủy", "đừng có xóa", "chưa cần đặt".
_BETWEEN = frozenset({"muon", "can", "co", "phai", "nen", "duoc", "voi", "vay"})


def _deed_at(folded: list[str], deeds: tuple[str, ...]) -> tuple[int, int] | None:
    """(start, length) of the first of `deeds` (in their order) among the folded tokens, or None."""
    for deed in deeds:
        size = len(deed.split())
        for start in range(len(folded) - size + 1):
            if " ".join(folded[start:start + size]) == deed:
                return start, size
    return None


def _said_of_deed(marked: list[str], deeds: tuple[str, ...]) -> tuple[bool, str | None] | None:
    """(whether the clause names the deed or keeping, YES/NO/UNCLEAR or None for the deed amid other
    words) for one clause (its words as typed, lower case); _COURTESY for courtesies alone ("cảm ơn em",
    "ạ", "ừ"), which say nothing either way; None when it says something else ("à thôi", "khoan đã")."""
    pairs = [(token, word) for word in marked for token in tokens(word)]
    folded = [token for token, _ in pairs]
    named = _deed_at(folded, deeds)
    if named is None and all(token in _AGREEING | _POLITE and token != "thoi" and word not in _MARKED_NOT_AGREEING
                             for token, word in pairs):
        return _COURTESY
    bare = " ".join(token for token in folded if token not in _POLITE)
    if bare in _BARE:
        return False, _BARE[bare]
    if any(re.search(rf"(?:^| ){keep}(?: |$)", " ".join(folded)) for keep in _KEEPING):
        return True, NO
    if named is None:
        return None
    start, size = named
    before = start - 1
    while before >= 0 and folded[before] in _BETWEEN:
        before -= 1
    typed = pairs[before][1] if before >= 0 else ""
    if before < 0 or (folded[before] not in _NEGATING and typed not in _MARKED_NEGATING):
        # Yes only when nothing else is said: "đặt cho mẹ chứ không phải tôi" is not a yes.
        rest = {token for index, (token, word) in enumerate(pairs) if not start <= index < start + size
                and (token not in _AGREEING | _POLITE or word in _MARKED_NOT_AGREEING)}
        rest -= {word for other in deeds for word in other.split()}
        return True, None if rest else YES
    # Only the marks tell "đừng" (don't) from "đúng" (right): "dung" typed bare is either.
    if folded[before] == "dung":
        return True, YES if typed == "đúng" else UNCLEAR if typed == "dung" else NO
    return True, NO


def answer_in_words(text: str, slot: str) -> str | None:
    """What a reply to the yes/no question for `slot` says with the deed's words: YES ("hủy đi", "ừ xóa
    hết"), NO ("đừng hủy", "k cho phép", "giữ lại lịch"), UNCLEAR (a question about it, "dung xoa" typed
    without marks, "không, hủy đi": the question is asked again), or None when it names neither the
    deed nor keeping ("ừ", "không"): the intent decides."""
    deeds = CONFIRMING_DEEDS.get(slot)
    if not deeds or text.startswith("/"):
        return None
    marked = unicodedata.normalize("NFC", text).lower()
    clauses = [[re.sub(r"\W", "", word) for word in clause.split()] for clause in re.split(r"[,.;!?\n]+", marked)]
    said = [found for found in (_said_of_deed(clause, deeds) for clause in clauses) if found is not _COURTESY]
    if not any(found and found[0] for found in said):
        return None
    last_word = re.sub(r"\W", "", marked.split()[-1])
    last_token = (tokens(marked) or [""])[-1]
    answers = {found[1] if found else _OTHER for found in said}
    # "hủy được không?", "xoa k", "xóa rồi hả": asking about it is not saying it ("ko hủy đâu" is a no).
    if "?" in marked or last_word in _ASKING or (last_token in ("khong", "chua") and answers != {NO}):
        return UNCLEAR
    # "hủy đi... à mà thôi", "Hủy đi. Khoan đã", "đặt đi, à nhầm ngày": something else is said too; and
    # where a yes undoes something, "xóa làm chi", "có xóa đâu": not a plain answer, so not acted on.
    if _OTHER in answers or (slot in _UNDOING and None in answers):
        return UNCLEAR
    answers -= {None, _OTHER}
    if not answers:
        return None
    return answers.pop() if len(answers) == 1 else UNCLEAR


def _has_fix_verb(text: str) -> bool:
    """A verb of correcting not negated: "tên không nhầm", "số không sai đâu" confirm, they fix nothing."""
    previous = ""
    for word in text.split():
        bare = re.sub(r"\W", "", unicodedata.normalize("NFC", word).lower())
        if fold(bare) in FIX_WORDS and bare not in _NOT_CHANGE and previous not in _NEGATING_FIX:
            return True
        previous = " ".join(tokens(bare))
    return False


def find_correction(text: str, fields: tuple[str, ...]) -> tuple[str, str] | None:
    """(slot, new value typed after the field name — may be "") when the message fixes an answer."""
    if text.startswith("/") or not _has_fix_verb(text):
        return None
    words = text.split()
    # Folded tokens with the word each came from: shorthand such as "sdt" is several tokens of one word.
    stream = [(token, index) for index, word in enumerate(words) for token in tokens(word)]
    folded = [token for token, _ in stream]
    best: tuple[int, int, str] | None = None  # (start, length, slot): earliest mention, longest name
    for slot in fields:
        for phrase in FIELD_WORDS.get(slot, ()):
            size = len(phrase.split())
            for start in range(len(folded) - size + 1):
                if " ".join(folded[start:start + size]) == phrase and (
                        best is None or (start, -size) < (best[0], -best[1])):
                    best = (start, size, slot)
    if best is None:
        return None
    start, size, slot = best
    rest = words[stream[start + size - 1][1] + 1:]

    def filler(word: str) -> bool:
        return " ".join(tokens(word)) in _FILLERS or not tokens(word)

    while rest and filler(rest[0]):
        rest = rest[1:]
    while rest and filler(rest[-1]):
        rest = rest[:-1]
    return slot, " ".join(rest)


if TYPE_CHECKING:
    # What FormControl is always mixed into, just before it: `super().run` is the form validation's.
    _MixedIntoFormValidation = FormValidationAction
else:
    # Not a base at run time, or the action server would try to register the mixin as an action.
    _MixedIntoFormValidation = object


class FormControl(Speaks, _MixedIntoFormValidation):
    """Mixed into the validation actions of the forms residents fill in (before FormValidationAction):
    adds stopping and correcting to field validation. Not an Action itself, so the action server
    does not try to register it."""

    stop_words: frozenset[str] = STOP_WORDS | CANCEL_WORDS
    correctable: tuple[str, ...] = ()
    # Slots emptied when the resident stops: nothing they typed is kept.
    forget_on_stop: tuple[str, ...] = ()

    def name(self) -> str:
        raise NotImplementedError

    def form_name(self) -> str:
        return self.name().removeprefix("validate_")

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        # Only once the form is running: "đổi lịch khám" may be what opened the reschedule form.
        if loop_before_latest_message(tracker) == self.form_name():
            text = tracker.latest_message.get("text") or ""
            if stale_tap(tracker):
                return self.refuse_stale_tap(dispatcher, tracker)
            if is_stop(text, self.stop_words):
                dispatcher.utter_message(response="utter_form_stopped")
                return [*(SlotSet(slot, None) for slot in self.forget_on_stop),
                        SlotSet(REQUESTED_SLOT, None), ActiveLoop(None)]
            correction = find_correction(text, self.correctable) or self.tapped_fix(tracker)
            if correction is not None:
                return await self.correct(*correction, dispatcher=dispatcher, tracker=tracker, domain=domain)
        return list(await super().run(dispatcher, tracker, domain))

    async def get_extraction_events(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                                    ) -> list[EventType]:
        """Rasa SDK's extraction step, plus a yes/no answered with the deed's words (CONFIRMING_DEEDS): it
        overrides what the intent set ("đừng hủy" read as cancel_booking is a no), and an unclear one
        empties the slot, so the question is asked again rather than a guess acted on."""
        events = list(await super().get_extraction_events(dispatcher, tracker, domain))
        requested = tracker.get_slot(REQUESTED_SLOT)
        if (requested in CONFIRMING_DEEDS and requested in self.domain_slots(domain)
                and loop_before_latest_message(tracker) == self.form_name()):
            answer = answer_in_words(tracker.latest_message.get("text") or "", requested)
            if answer is not None:
                events.append(SlotSet(requested, {YES: True, NO: False}.get(answer)))
        return events

    def tapped_fix(self, tracker: Tracker) -> tuple[str, str] | None:
        """A "Sửa …" button of the booking summary: that answer is asked again."""
        field = next(tracker.get_latest_entity_values(FIX_FIELD), None)
        return (field, "") if field in self.correctable else None

    @staticmethod
    def refuse_stale_tap(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        """A button of a question that is over (actions/questions.py): nothing it carried is kept, and the
        form asks its current question again after saying so."""
        dispatcher.utter_message(response="utter_stale_choice_in_form")
        events = take_back(tracker)
        requested = tracker.get_slot(REQUESTED_SLOT)
        if requested and all(event["name"] != requested for event in events):
            # A slot event, so the form goes on (it would otherwise reject the message) and asks again.
            events.append(SlotSet(requested, None))
        return events

    async def correct(self, slot: str, value: str, *, dispatcher: CollectingDispatcher, tracker: Tracker,
                      domain: DomainDict) -> list[EventType]:
        changes: dict[str, Any] = {slot: None}
        for dependent in DEPENDENTS.get(slot, ()):
            changes[dependent] = None
        # The message itself was taken as the answer to the question on screen: take it back.
        requested = tracker.get_slot(REQUESTED_SLOT)
        if requested and requested in tracker.slots_to_validate():
            changes[requested] = None
        say = await self.wording(tracker)
        dispatcher.utter_message(response="utter_correcting", field=say(f"field_{slot}"))
        if value:
            result = getattr(self, f"validate_{slot}")(value, dispatcher, tracker, domain)
            changes.update(await result if asyncio.iscoroutine(result) else result)
        events: list[EventType] = [SlotSet(name, new) for name, new in changes.items()]
        if changes.get(slot) is None:
            # Ask for the corrected field next, even though later fields are empty too.
            events.append(SlotSet(REQUESTED_SLOT, slot))
        return events
