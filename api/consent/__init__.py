"""Consent per purpose, recorded next to the data it covers: below every domain that asks for it."""
