"""Scam reports residents send through the bot, kept for station and communications staff."""
