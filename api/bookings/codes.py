"""Transitional: booking codes live in `common.booking_codes`, shared with the bot. Re-exported here
only for the importers not yet moved there."""

from __future__ import annotations

from common.booking_codes import ALPHABET, LENGTH, canonical, new_code

__all__ = ["ALPHABET", "LENGTH", "canonical", "new_code"]
