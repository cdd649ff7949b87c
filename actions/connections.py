"""HTTP sessions that keep their connections: one aiohttp session per event loop, lent to every request.

Opening a session per request, as aiohttp's examples (and Rasa) do, opens a new TCP connection each
time: set-up and tear-down on both sides for every call (issue 21). Idle connections are closed after
`KEEPALIVE_S`, sooner than the servers close them themselves (uvicorn and Sanic: 5 s), so a request
never goes out on a connection the server is closing.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import aiohttp

KEEPALIVE_S = 2.0


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
                                            **self.settings)
            self._sessions[loop] = current
        return current

    async def close(self) -> None:
        """Closes this event loop's session (the server is stopping)."""
        current = self._sessions.pop(asyncio.get_running_loop(), None)
        if current is not None:
            await current.close()
