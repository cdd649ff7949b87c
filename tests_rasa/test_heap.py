"""The Rasa server and the action server freeze their start-up heap once they are up (common/heap.py),
and freezing collects the start-up's garbage first."""

from __future__ import annotations

import asyncio
import gc
import socket
import uuid
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from rasa_sdk.endpoint import create_app as create_action_server
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic

from bot.channels import GatewayInput
from common.heap import freeze_startup_heap


@pytest.fixture(autouse=True)
def unfrozen(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Sanic rewrites its own methods when an app starts, and can do it a second time in one process only in
    # its test mode (which keeps the originals).
    monkeypatch.setattr(Sanic, "test_mode", True)
    # The test process must not keep what a test froze: later tests' garbage would never be collected.
    gc.unfreeze()
    yield
    gc.unfreeze()


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_freezing_collects_the_garbage_first_and_freezes_the_rest() -> None:
    kept = _Cycle()
    dropped = weakref.ref(_Cycle())  # unreachable at once, and freed only by a collection
    assert gc.get_freeze_count() == 0

    frozen = freeze_startup_heap()

    assert dropped() is None  # once frozen, a cycle would never be freed
    assert frozen == gc.get_freeze_count() > 1000
    assert kept.me is kept


async def _start_and_stop(app: Sanic) -> int:
    """Starts the app's server as `app.run` would (its listeners included) and says how much it froze."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))  # a free port (Sanic reads port 0 as its default, 8000)
    server = await app.create_server(sock=listening, return_asyncio_server=True)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        return gc.get_freeze_count()
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()
        listening.close()


def test_the_rasa_server_with_the_gateway_channel_freezes_its_heap_once_it_is_up() -> None:
    async def on_new_message(_message: Any) -> None:
        return None

    app = Sanic(f"rasa-{uuid.uuid4().hex}")
    app.blueprint(GatewayInput().blueprint(on_new_message))
    assert gc.get_freeze_count() == 0

    assert asyncio.run(_start_and_stop(app)) > 1000


def test_the_action_server_freezes_its_heap_once_it_is_up() -> None:
    # What `rasa run actions` does (rasa_sdk.endpoint.run): the app with this package's actions, then its
    # plugins' extensions, then the server.
    app = create_action_server("actions")
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    assert gc.get_freeze_count() == 0

    assert asyncio.run(_start_and_stop(app)) > 1000


def test_the_action_servers_hook_is_registered_once_however_often_the_package_is_imported() -> None:
    from actions import serving

    serving.install()
    serving.install()

    assert [plugin for plugin in plugin_manager().get_plugins() if plugin is serving] == [serving]
