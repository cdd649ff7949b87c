"""HTTP sessions that keep their connections: one aiohttp session per event loop, lent to every request.

Opening a session per request, as aiohttp's examples (and Rasa) do, opens a new TCP connection each
time: set-up and tear-down on both sides for every call (issue 21). Idle connections are closed after
`KEEPALIVE_S`, sooner than the servers close them themselves (uvicorn and Sanic: 5 s), so a request
never goes out on a connection the server is closing.

Request bodies are written by ujson (`dumps`): aiohttp's default, the standard library's `json.dumps`, took
≈ 1 ms of the Rasa server's CPU per message writing the tracker it sends to the action server
(`bench/profile.py`).
"""

from __future__ import annotations

import asyncio
import json
import weakref
from typing import Any

import aiohttp
import ujson

KEEPALIVE_S = 2.0


def dumps(value: Any) -> str:
    """`value` as JSON that reads back as `json.dumps`'s would (only spacing and escapes differ). What ujson
    refuses goes to `json.dumps`, so a body is written, or refused with the error, as aiohttp would have."""
    try:
        return ujson.dumps(value, escape_forward_slashes=False)
    except (OverflowError, TypeError, ValueError):
        return json.dumps(value)


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
