"""Dependency-free pieces both runtimes need (the API and gateway on Python 3.11, the Rasa server and
action server on 3.10): nothing here imports `api`, `gateway` or pydantic (v2 in one environment, v1 in
the other). The one third-party package used is `cryptography` (common.keys), which both environments
install (Rasa 3.6 requires it itself).

- errors: the base of the error tree, with its stable `code` (the API's handler turns it into a 4xx);
- identity: what a resident types about themselves (CCCD, phone, name, birth date), checked alike by
  the bot's forms and the API;
- masking: CCCDs, phone numbers and dates kept out of what staff, logs and stored chats show;
- keys: keys derived from the deployment's master secret;
- booking_codes: the alphabet of booking codes and how a typed code is read;
- chat_identity: the chat a resident request comes from, signed by the gateway;
- vocabulary: languages, booking statuses, the time zone;
- wording: the assistant's texts by key (seeds in bot/, staff's published wording over them);
- heap: what a service built while starting, frozen out of the garbage collector's full passes.
"""
