"""The channel gateway (main environment): Telegram, Zalo OA and the web chat in front of Rasa's REST
channel. Rasa sees only text and metadata `{channel, referral_code, language}`; everything that is
about a platform — authenticity, redelivery, buttons, audio, rate limits, retries — happens here."""
