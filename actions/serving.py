"""The action server's own start-up, through rasa_sdk's plugin hook (`rasa run actions` calls
`attach_sanic_app_extensions` on its Sanic app after importing this package, before serving).

Once the server is up, what its start-up built (rasa_sdk, Sanic, aiohttp, these actions) is frozen out of
the garbage collector's full passes (common/heap.py): measured here, such a pass stopped the action
server 231–370 ms in a 30-second burst of chats, with every resident's action waiting behind it.
"""

from __future__ import annotations

import sys
from typing import Any

import pluggy
from rasa_sdk.plugin import plugin_manager

from common.heap import freeze_startup_heap

hookimpl = pluggy.HookimplMarker("rasa_sdk")


async def _freeze_heap(_app: Any, _loop: Any) -> None:
    freeze_startup_heap()


@hookimpl
def attach_sanic_app_extensions(app: Any) -> None:
    app.register_listener(_freeze_heap, "after_server_start")


def install() -> None:
    """Registers the hook once per process (the package is imported again by rasa_sdk's walk of it)."""
    manager = plugin_manager()
    module = sys.modules[__name__]
    if not manager.is_registered(module):
        manager.register(module)
