"""The outbox's loop: a failing database look never ends it, and its own replies wake it at once even
while it polls an empty outbox only every IDLE_POLL_S."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway import outbox as outbox_module
from gateway.coordination import LocalCoordination
from gateway.outbox import Outbox


class Store:
    """Nothing due; `pending()` fails as often as asked, then answers `waiting`."""

    def __init__(self, failures: int = 0, waiting: bool = False) -> None:
        self.failures, self.waiting = failures, waiting
        self.rounds = 0

    def due(self) -> list[Any]:
        self.rounds += 1
        return []

    def pending(self) -> bool:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("database is locked")
        return self.waiting


async def run_for(outbox: Outbox, seconds: float, wake_after: float | None = None) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(outbox.run(stop))
    if wake_after is not None:
        await asyncio.sleep(wake_after)
        outbox.wake.set()
        await asyncio.sleep(seconds - wake_after)
    else:
        await asyncio.sleep(seconds)
    stop.set()
    outbox.wake.set()
    await asyncio.wait_for(task, 1.0)  # ended by `stop`, not by an exception


def test_a_failing_look_at_the_outbox_does_not_end_the_loop() -> None:
    store = Store(failures=2)
    asyncio.run(run_for(Outbox(store, {}, LocalCoordination()), 0.8))  # type: ignore[arg-type]
    assert store.failures == 0 and store.rounds >= 3


def test_an_empty_outbox_is_looked_at_seldom_but_a_reply_wakes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox_module, "IDLE_POLL_S", 5.0)
    idle = Store()
    asyncio.run(run_for(Outbox(idle, {}, LocalCoordination()), 0.6))  # type: ignore[arg-type]
    assert idle.rounds == 1
    woken = Store()
    asyncio.run(run_for(Outbox(woken, {}, LocalCoordination()), 0.6, wake_after=0.3))  # type: ignore[arg-type]
    assert woken.rounds == 2
    waiting = Store(waiting=True)  # a chat's next message or a retry: every POLL_S
    asyncio.run(run_for(Outbox(waiting, {}, LocalCoordination()), 0.6))  # type: ignore[arg-type]
    assert waiting.rounds >= 2
