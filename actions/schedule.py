"""Tells a resident when and where the station or the mobile team examines in their commune, and
whom to call there."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import questions
from actions.api import ApiClient, ApiError, ApiUnavailable
from actions.formatting import session_line, session_title, several_sites
from actions.speaking import Speaks, Wording

MAX_LISTED = 5
# What the bot asked a commune for, so that a bare "Hữu Liên" next is understood.
AWAITING = "awaiting_commune"


def latest_entity(tracker: Tracker, name: str) -> str | None:
    values = [e.get("value") for e in tracker.latest_message.get("entities", []) if e.get("entity") == name]
    return str(values[-1]) if values and values[-1] else None


def commune_query(tracker: Tracker) -> str | None:
    """The commune the resident means: named in this message, typed in answer to our question,
    or the one already settled in this conversation."""
    named = latest_entity(tracker, "commune")
    if named:
        return named
    text = (tracker.latest_message.get("text") or "").strip()
    if tracker.get_slot(AWAITING) and text and not text.startswith("/"):
        return text[:100]
    return tracker.get_slot("commune")


async def resolve_commune(client: ApiClient, dispatcher: CollectingDispatcher, query: str | None,
                          tracker: Tracker) -> tuple[dict[str, Any] | None, list[EventType]]:
    """One commune for the query; or none, after asking the resident to type or pick it (with the events of
    the question put on screen)."""
    if not query:
        dispatcher.utter_message(response="utter_ask_commune")
        return None, []
    matches = await client.find_communes(query)
    if not matches:
        dispatcher.utter_message(response="utter_commune_not_found", commune=query)
        return None, []
    exact = [c for c in matches if c["name"].lower() == query.strip().lower()]
    if len(matches) == 1 or len(exact) == 1:
        return (exact[0] if exact else matches[0]), []
    return None, questions.ask(dispatcher, tracker, questions.COMMUNE,
                               [(c["full_name"], "inform", {"commune": c["name"]}) for c in matches],
                               response="utter_choose_commune")


class CommuneAction(Speaks):
    """Mixed into actions about one commune: finds it (asking when needed), then `answer`s for it.
    Not an Action itself, so the action server does not try to register it."""

    purpose = ""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        try:
            commune, asked = await resolve_commune(self.client, dispatcher, commune_query(tracker), tracker)
            if commune is None:
                return [SlotSet(AWAITING, self.purpose), *asked]
            events: list[EventType] = [SlotSet(AWAITING, None), SlotSet("commune", commune["name"]),
                                       SlotSet("commune_id", commune["id"])]
            return events + await self.answer(dispatcher, commune, await self.wording(tracker))
        except (ApiUnavailable, ApiError):
            dispatcher.utter_message(response="utter_service_busy")
            return [SlotSet(AWAITING, None)]

    async def answer(self, dispatcher: CollectingDispatcher, commune: dict[str, Any], say: Wording
                     ) -> list[EventType]:
        raise NotImplementedError


class ActionListSessions(CommuneAction, Action):
    purpose = "schedule"

    def name(self) -> str:
        return "action_list_sessions"

    async def answer(self, dispatcher: CollectingDispatcher, commune: dict[str, Any], say: Wording
                     ) -> list[EventType]:
        sessions = await self.client.list_sessions(commune_id=commune["id"])
        if not sessions:
            dispatcher.utter_message(response="utter_no_sessions", commune=commune["full_name"])
            return []
        shown = sessions[:MAX_LISTED]
        lines = "\n".join(session_line(s, say) for s in shown)
        places = several_sites(shown)
        dispatcher.utter_message(
            response="utter_sessions_list", commune=commune["full_name"], sessions=lines,
            buttons=[
                # A command, not an answer (no question tag): it starts a booking, which checks the session.
                {"title": session_title(s, say, several_sites=places, to_book=True),
                 "payload": f'/book_exam{{"session_id": "{s["id"]}", "commune": "{commune["name"]}"}}'}
                for s in shown
            ],
        )
        return []


def reachable_site(sites: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The site a resident can call: the commune health station first, else any site with a phone."""
    reachable = sorted((s for s in sites if s.get("phone")), key=lambda s: s["kind"] != "station")
    return reachable[0] if reachable else None


class ActionHandoff(CommuneAction, Action):
    """Puts the resident in touch with a person: their commune health station's phone."""

    purpose = "handoff"

    def name(self) -> str:
        return "action_handoff"

    async def answer(self, dispatcher: CollectingDispatcher, commune: dict[str, Any], say: Wording
                     ) -> list[EventType]:
        sites = await self.client.list_sites(commune["id"])
        site = reachable_site(sites)
        if site is None:
            dispatcher.utter_message(response="utter_handoff", commune=commune["full_name"])
            return []
        dispatcher.utter_message(response="utter_handoff_station", station=site["name"], phone=site["phone"],
                                 address=site.get("address") or commune["full_name"])
        return []
