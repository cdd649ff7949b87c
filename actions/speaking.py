"""What an action says to a resident, by key: the published wording of the resident's language (else
Vietnamese, else the seed in bot/texts/actions.yml and bot/texts/errors.yml), with named values.

    say = await self.wording(tracker)
    dispatcher.utter_message(text=say("booking_summary", code=code, status=say.booking_status(status), …))

Refusals are keyed by their stable code too: `error_<code>` (or `error_<code>_<reason>`), so staff
can reword and translate what the API and the forms answer; the API's own Vietnamese message is said
only for a code that has no text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Tracker

from actions.api import ApiBacked, ApiClient, ApiError
from actions.content import ContentCache, content_for
from actions.voice import language_of
from common.errors import InvalidInput
from common.vocabulary import TIME_ZONE
from common.wording import fill, placeholders

VIETNAM = ZoneInfo(TIME_ZONE)


@dataclass(frozen=True)
class Wording:
    """The keyed texts as one resident reads them: their language, the bundle as last fetched."""

    content: ContentCache
    language: str

    def __call__(self, key: str, **values: object) -> str:
        return self.content.say(key, self.language, **values)

    def first(self, keys: Iterable[str], **values: object) -> str | None:
        """The first of `keys` that has a text `values` can fill entirely, filled; None if none has.

        A text asking for a value this answer did not bring (a lockout's end time without the API's
        `retry_after_seconds`) is passed over rather than shown with a bare `{until_time}`."""
        for key in keys:
            text = self.content.find(key, self.language)
            if text is not None and placeholders(text) <= values.keys():
                return fill(text, values)
        return None

    def refusal(self, error: ApiError | InvalidInput, *, reason: str | None = None) -> str:
        """Why the API or a form check said no: `error_<code>_<reason>`, else `error_<code>`, else the
        API's own message. `reason` is the caller's context ("booking_code", "identity") for a code
        whose meaning depends on it; a `reason` detail from the API or the check wins over it."""
        message = error.message if isinstance(error, ApiError) else error.detail_message
        details = error.details or {}
        why = details.get("reason") or reason
        keys = [f"error_{error.code}_{why}"] if why else []
        keys.append(f"error_{error.code}")
        return self.first(keys, **error_values(details)) or message or self("error_bad_request")

    def booking_status(self, status: str) -> str:
        return self.first([f"booking_status_{status}"]) or status

    # An e-health book status (the API's `status`) and what to do next, in the resident's language;
    # the API's own Vietnamese `label` / `next_step` for a status that has no text.
    def record_status(self, status: str, label: str) -> str:
        return self.first([f"record_status_{status}"]) or label

    def record_next_step(self, status: str, next_step: str) -> str:
        return self.first([f"record_next_{status}"]) or next_step


def error_values(details: Mapping[str, Any], now: datetime | None = None) -> dict[str, object]:
    """The values a refusal's text may name: the plain details of the error body, and for a lockout
    (`retry_after_seconds`) when it ends, in Vietnam time: `{until_time}` (10:15), `{until_date}`."""
    values: dict[str, object] = {name: value for name, value in details.items()
                                 if isinstance(value, (str, int, float)) and not isinstance(value, bool)}
    wait = details.get("retry_after_seconds")
    if isinstance(wait, (int, float)) and not isinstance(wait, bool):
        until = (now or datetime.now(VIETNAM)).astimezone(VIETNAM) + timedelta(seconds=wait)
        values.update(until_time=f"{until:%H:%M}", until_date=f"{until:%d/%m/%Y}",
                      retry_after_minutes=max(1, -(-int(wait) // 60)))
    return values


class Speaks(ApiBacked):
    """Mixed into actions that say keyed texts (before Action): they read the texts published on the
    API they ask. Not an Action itself, so the action server does not try to register it."""

    _content: ContentCache | None = None

    def __init__(self, client: ApiClient | None = None, content: ContentCache | None = None) -> None:
        super().__init__(client)
        if content is not None:  # an action run on another's behalf says that one's texts
            self._content = content

    @property
    def content(self) -> ContentCache:
        # One cache per API for the whole process (tests point an action at their fake API by its client).
        return self._content or content_for(self.client.base_url)

    @content.setter
    def content(self, cache: ContentCache) -> None:
        self._content = cache

    async def wording(self, tracker: Tracker, language: str | None = None) -> Wording:
        """The texts for this resident (or for `language`, a choice their slots do not hold yet), as
        now published: a change staff publish reaches the next message within the refresh interval."""
        await self.content.get()
        return Wording(self.content, language or language_of(dict(tracker.current_slot_values())))
