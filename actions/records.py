"""E-health book status and the resident's data rights, in chat.

Both ask for CCCD and birth date (re-using what the resident already gave in this conversation)
and leave the checking to the API, which answers "not found" and "wrong birth date" alike and
counts attempts per chat. Consent is asked first, per purpose, and the notice version is sent
with the request so the API stores what was agreed to.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import AllSlotsReset, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import questions
from actions.api import ApiError, ApiUnavailable
from actions.booking import remember_identity
from actions.booking_form import ConsentFirst, IdentityAnswers
from actions.consent import notice_version
from actions.faq import channel_of
from actions.form_control import FormControl
from actions.formatting import day_month_year
from actions.speaking import Speaks, Wording
from common.masking import mask
from vntext import fold

# Folded phrases telling which right a resident means, checked in this order.
RIGHT_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("withdraw", ("rut lai", "khong dong y nua", "khong dong y cho", "ngung nhan", "khong nhan tin nhac",
                  "thu hoi dong y")),
    ("view", ("giu thong tin gi", "luu thong tin gi", "giu gi", "luu gi", "luu nhung gi", "giu nhung gi",
              "co thong tin gi", "xem thong tin", "xem du lieu", "du lieu gi", "thong tin gi")),
    ("erase", ("xoa", "go bo", "go du lieu", "huy bo thong tin", "dung luu", "khong muon luu")),
)
RIGHTS = ("view", "withdraw", "erase")
# The API counts identity checks (CCCD and birth date) per chat: its lockout is the identity check's.
IDENTITY_LOCKOUT = "identity"


def right_in(text: str) -> str | None:
    folded = f" {fold(text)} "
    for right, phrases in RIGHT_WORDS:
        if any(f" {phrase} " in folded for phrase in phrases):
            return right
    return None


def who(cccd: str, say: Wording) -> str:
    """Whose data a message is about, without the number itself: "số căn cước •••••••••123"."""
    return say("person_by_cccd", cccd=mask(cccd))


# What the "someone else" button sends (and what a resident may type, folded): ask for a new CCCD.
OTHER_PERSON = "nguoi khac"


class ReusesIdentity:
    """Fills CCCD and birth date from what this conversation already confirmed (a booking or a
    lookup), so the resident is not asked twice; each answer is still validated."""

    async def extract_cccd(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                           ) -> dict[str, Any]:
        known = tracker.get_slot("known_cccd")
        return {"cccd": known} if known and not tracker.get_slot("cccd") else {}

    async def extract_birth_date(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                                 ) -> dict[str, Any]:
        known = tracker.get_slot("known_birth_date")
        return {"birth_date": known} if known and not tracker.get_slot("birth_date") else {}


def settle_identity(cccd: str | None, birth_date: str | None, *, confirmed: bool) -> list[EventType]:
    """After a lookup or a request the answers leave the form's slots (a later booking asks afresh);
    an identity the API confirmed is remembered for the conversation, any other is dropped."""
    return [SlotSet("cccd", None), SlotSet("birth_date", None),
            *remember_identity(cccd if confirmed else None, birth_date if confirmed else None)]


class ActionAskConsentRecord(Speaks, Action):
    """The consent notice, saying whose CCCD will be used when this conversation already knows one."""

    def name(self) -> str:
        return "action_ask_consent_record"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        known = tracker.get_slot("known_cccd")
        say = await self.wording(tracker)
        buttons: list[tuple[str, str, dict[str, str]]] = [(say("button_consent_record_yes"), "affirm", {})]
        if known:
            dispatcher.utter_message(response="utter_reusing_identity", cccd=mask(known))
            # The payload's words are what ValidateRecordForm reads (OTHER_PERSON), whatever the title says.
            buttons.append((say("button_look_up_someone_else"), "affirm", {"person_name": OTHER_PERSON}))
        buttons.append((say("button_consent_record_no"), "deny", {}))
        return questions.ask(dispatcher, tracker, questions.CONSENT_RECORD, buttons,
                             response="utter_ask_consent_record")


class ValidateRecordForm(ConsentFirst, ReusesIdentity, IdentityAnswers, FormControl, FormValidationAction):
    consent_slot = "consent_record"
    correctable = ("cccd", "birth_date")
    forget_on_stop = ("consent_record",)

    def name(self) -> str:
        return "validate_record_form"

    def validate_consent_record(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> dict[str, Any]:
        if value and OTHER_PERSON in fold(tracker.latest_message.get("text") or ""):
            # "Tra cho người khác": forget the remembered identity and ask for the other person's.
            return {"consent_record": True, "known_cccd": None, "known_birth_date": None, "cccd": None,
                    "birth_date": None}
        return {"consent_record": value}


class ActionSubmitRecordLookup(Speaks, Action):
    def name(self) -> str:
        return "action_submit_record_lookup"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        slot = tracker.get_slot
        cccd, birth = slot("cccd"), slot("birth_date")
        confirmed = False
        if slot("consent_record") is False:
            dispatcher.utter_message(response="utter_consent_refused")
        elif slot("consent_record") is True and cccd and birth:  # otherwise stopped: the form said so
            confirmed = await self.look_up(dispatcher, tracker, cccd, birth,
                                           await notice_version("utter_ask_consent_record", self.content))
        # Not found may be a typing mistake: the next try asks again rather than re-using the answers.
        return [SlotSet("consent_record", None), *settle_identity(cccd, birth, confirmed=confirmed)]

    async def look_up(self, dispatcher: CollectingDispatcher, tracker: Tracker, cccd: str, birth: str,
                      notice: str) -> bool:
        say = await self.wording(tracker)
        try:
            answer = await self.client.record_status(cccd=cccd, birth_date=birth, chat_id=tracker.sender_id,
                                                     consent_notice=notice, channel=channel_of(tracker))
        except ApiUnavailable:
            dispatcher.utter_message(response="utter_service_busy")
            return False
        except ApiError as error:  # 429 after too many attempts, with when to come back
            dispatcher.utter_message(text=say.refusal(error, reason=IDENTITY_LOCKOUT))
            return False
        status = answer["status"]
        label = say.record_status(status, answer["label"])
        if answer.get("updated_on"):
            label = say("record_label_updated_on", label=label, date=day_month_year(answer["updated_on"]))
        dispatcher.utter_message(response="utter_record_status", who=who(cccd, say), label=label,
                                 next_step=say.record_next_step(status, answer["next_step"]))
        return bool(answer["status"] != "not_found")


class ValidateRightsForm(ReusesIdentity, IdentityAnswers, FormControl, FormValidationAction):
    correctable = ("cccd", "birth_date")
    forget_on_stop = ("data_right", "rights_confirmed")

    def name(self) -> str:
        return "validate_rights_form"

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> list[str]:
        if tracker.get_slot("rights_confirmed") is False:
            return []
        if tracker.get_slot("data_right") != "erase":
            return [s for s in domain_slots if s != "rights_confirmed"]
        return domain_slots

    async def extract_data_right(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                 domain: DomainDict) -> dict[str, Any]:
        # "Rút lại đồng ý", "các bạn giữ gì của tôi", "xóa dữ liệu": the request itself says which right.
        if tracker.get_slot("data_right"):
            return {}
        right = right_in(tracker.latest_message.get("text") or "")
        return {"data_right": right} if right else {}

    def validate_data_right(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                            domain: DomainDict) -> dict[str, Any]:
        if value in RIGHTS:
            return {"data_right": value}
        right = right_in(str(value or ""))
        return {"data_right": right}

    def validate_rights_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> dict[str, Any]:
        # None: an unclear answer (actions/form_control.py answer_in_words), asked again.
        return {"rights_confirmed": None if value is None else bool(value)}


class ActionAskDataRight(Speaks, Action):
    def name(self) -> str:
        return "action_ask_data_right"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        say = await self.wording(tracker)
        return questions.ask(dispatcher, tracker, questions.DATA_RIGHT, [
            (say(f"button_data_right_{right}"), "delete_my_data", {"data_right": right}) for right in RIGHTS],
            response="utter_ask_data_right")


class ActionAskRightsConfirmed(Speaks, Action):
    def name(self) -> str:
        return "action_ask_rights_confirmed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        say = await self.wording(tracker)
        return questions.ask(dispatcher, tracker, questions.RIGHTS_CONFIRMED, [
            (say("button_erase_confirmed"), "affirm", {}), (say("button_erase_kept"), "deny", {})],
            response="utter_ask_rights_confirmed")


class ActionSubmitRights(Speaks, Action):
    def name(self) -> str:
        return "action_submit_rights"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        slot = tracker.get_slot
        right, cccd, birth = slot("data_right"), slot("cccd"), slot("birth_date")
        confirmed = False
        if right == "erase" and slot("rights_confirmed") is False:
            dispatcher.utter_message(response="utter_erase_kept")
        elif right and cccd and birth:  # otherwise stopped: the form said so
            try:
                if right == "erase":
                    return await self.erase(dispatcher, tracker, cccd, birth)
                confirmed = await self.view_or_withdraw(dispatcher, tracker, right, cccd, birth)
            except ApiUnavailable:
                dispatcher.utter_message(response="utter_service_busy")
            except ApiError as error:  # 429 after too many attempts
                dispatcher.utter_message(text=(await self.wording(tracker)).refusal(error, reason=IDENTITY_LOCKOUT))
        return [SlotSet("data_right", None), SlotSet("rights_confirmed", None),
                *settle_identity(cccd, birth, confirmed=confirmed)]

    async def view_or_withdraw(self, dispatcher: CollectingDispatcher, tracker: Tracker, right: str, cccd: str,
                               birth: str) -> bool:
        identity = {"cccd": cccd, "birth_date": birth, "chat_id": tracker.sender_id}
        if right == "view":
            held = await self.client.held_data(**identity)
            self.tell_held_data(dispatcher, await self.wording(tracker), cccd, held)
            return bool(held["found"])
        withdrawn = 0
        for purpose in ("record_lookup", "reminders", "announcements"):
            withdrawn += (await self.client.withdraw_consent(**identity, purpose=purpose))["withdrawn"]
        dispatcher.utter_message(response="utter_consent_withdrawn" if withdrawn else "utter_nothing_to_withdraw")
        return False

    async def erase(self, dispatcher: CollectingDispatcher, tracker: Tracker, cccd: str, birth: str
                    ) -> list[EventType]:
        erased = await self.client.erase(cccd=cccd, birth_date=birth, chat_id=tracker.sender_id)
        dispatcher.utter_message(
            response="utter_data_erased" if erased["erased"] else "utter_data_erased_chat_only",
            cancelled=erased["bookings_cancelled"])
        # Every answer of this conversation goes; the store redacts what it kept (bot/tracker_store.py).
        return [AllSlotsReset(), SlotSet("conversation_erased", True)]

    @staticmethod
    def tell_held_data(dispatcher: CollectingDispatcher, say: Wording, cccd: str, held: dict[str, Any]) -> None:
        if not held["found"]:
            dispatcher.utter_message(response="utter_held_nothing", who=who(cccd, say))
            return
        lines = [say("held_heading", who=who(cccd, say))]
        if held.get("full_name"):
            lines.append(say("held_person", full_name=held["full_name"], birth_year=held["birth_year"],
                             commune=held["commune"]))
            lines.append(say("held_phone", phone=held["phone_masked"]))
            lines.append(say("held_identity"))
        for booking in held.get("bookings", []):
            lines.append(say("held_booking", code=booking["code"], date=day_month_year(booking["starts_at"]),
                             status=say.booking_status(booking["status"])))
        if held.get("record_label"):
            lines.append(say("held_record", label=say.record_status(str(held.get("record_status")),
                                                                     held["record_label"])))
        for consent in held.get("consents", []):
            state = (say("consent_withdrawn_on", date=day_month_year(consent["withdrawn_at"]))
                     if consent.get("withdrawn_at") else say("consent_in_force"))
            purpose = say.first([f"consent_purpose_{consent['purpose']}"]) or consent["purpose"]
            lines.append(say("held_consent", purpose=purpose, date=day_month_year(consent["given_at"]),
                             notice=consent["notice_version"], state=state))
        dispatcher.utter_message(text="\n".join(lines))
        dispatcher.utter_message(response="utter_rights_next")
