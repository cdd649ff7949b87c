"""Words both runtimes use for the same things: languages, booking statuses, the time zone.

Search here before writing one of these lists again (STYLE.md: a concept has one home).
"""

from __future__ import annotations


def N_(text: str) -> str:  # noqa: N802 - the gettext convention Babel extracts (babel.cfg reads common/)
    """Marks a word for the interface catalogs; it is translated where it is shown (as api.core.i18n.N_,
    which this package cannot import)."""
    return text


# Vietnamese first (the default, and what text falls back to), then the minority languages whose
# audio staff record: Tày, Nùng, H'Mông, Dao (Iu Mien).
LANGUAGES = ("vi", "tyz", "nut", "hmn", "ium")
DEFAULT_LANGUAGE = "vi"
# A language named on its own (a column of the staff pages, a catalog's team): the minority languages
# by their name, Vietnamese as "Tiếng Việt".
LANGUAGE_LABELS = {"vi": N_("Tiếng Việt"), "tyz": N_("Tày"), "nut": N_("Nùng"), "hmn": N_("H'Mông"), "ium": N_("Dao")}
# How a sentence names a language after "tiếng" ("nghe bằng tiếng Tày").
LANGUAGE_NAMES = {**LANGUAGE_LABELS, "vi": "Việt"}

# A booking's status as the API returns it (a resident reads it as `booking_status_<status>`, bot/texts).
BOOKING_STATUSES = ("confirmed", "waitlisted", "cancelled", "attended", "no_show")
# Bookings that still hold (or wait for) a seat: they can be cancelled or moved.
ACTIVE_BOOKING_STATUSES = ("confirmed", "waitlisted")

# Residents, stations and schedules all live in Vietnam time (UTC+7, no daylight saving).
TIME_ZONE = "Asia/Ho_Chi_Minh"
