"""HTTP sessions that keep their connections: one aiohttp session per event loop, lent to every request.

Opening a session per request, as aiohttp's examples (and Rasa) do, opens a new TCP connection each
time: set-up and tear-down on both sides for every call (issue 21). Idle connections are closed after
`KEEPALIVE_S`, sooner than the servers close them themselves (uvicorn and Sanic: 5 s), so a request
never goes out on a connection the server is closing.

Request bodies are written by orjson (`dumps`): aiohttp's default, the standard library's `json.dumps`, took
≈ 1 ms of the Rasa server's CPU per message writing the tracker it sends to the action server
(`bench/profile.py`); ujson, used next, ≈ 0.4 ms; orjson writes a 51 KB call in a sixth of ujson's time
(0.06 against 0.34 ms) and copies it through JSON (`through_json`) in 0.24 against 0.62 ms.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from typing import Any

import aiohttp
import orjson

KEEPALIVE_S = 2.0

# Dates and dataclasses, which orjson writes and the standard library refuses, are handed back (there is
# no `default`), so they go to `json.dumps` and are refused as aiohttp's default refuses them. Keys that are
# not text go to `json.dumps` too: orjson would write a float key in its own way ("1e-7", not "1e-07").
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _encoded(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is one: a type or key it leaves alone, an integer past 64 bits, …
        return json.dumps(value).encode()


def dumps(value: Any) -> str:
    """`value` as JSON that reads back as `json.dumps`'s would (only spacing and escapes differ); what orjson
    refuses goes to `json.dumps`, so a body is written, or refused with the error, as aiohttp would have.
    Two things no tracker or API body holds differ: NaN and infinities are written as null (`json.dumps`
    writes NaN, which JSON does not have), and UUIDs and enumerations are written, not refused."""
    return _encoded(value).decode()


def through_json(value: Any) -> Any:
    """What the other side of a call reads when `value` is sent as a body (`dumps`): a copy that shares
    nothing with `value`, tuples turned into lists and keys into strings."""
    try:
        return orjson.loads(orjson.dumps(value, option=_OPTIONS))
    except TypeError:  # both ways by the standard library: orjson reads an integer past 64 bits as a float
        return json.loads(json.dumps(value))


class SessionPool:
    def __init__(self, **settings: Any) -> None:
        self.settings = settings  # what aiohttp.ClientSession takes: headers, auth, timeout
        self._sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = \
            weakref.WeakKeyDictionary()

    def session(self) -> aiohttp.ClientSession:
        """This event loop's session (made on first use): use it, do not close it."""
        loop = asyncio.get_running_loop()
        current = self._sessions.get(loop)
        if current is None or current.closed:
            current = aiohttp.ClientSession(connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_S),
                                            json_serialize=dumps, **self.settings)
            self._sessions[loop] = current
        return current

    async def close(self) -> None:
        """Closes this event loop's session (the server is stopping)."""
        current = self._sessions.pop(asyncio.get_running_loop(), None)
        if current is not None:
            await current.close()
