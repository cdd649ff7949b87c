"""A web chat message is answered within its budget, whatever the Rasa replicas do: nginx closes the
resident's request after 90 s, and an nginx error page is silence to the resident."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from common.keys import chat_identity_key
from gateway.messages import Incoming
from gateway.rasa import RasaClient, RasaUnavailable
from tests.support.env import TEST_SECRET

KEY = chat_identity_key(TEST_SECRET.encode())


def silent_replica() -> socket.socket:
    """Like a replica loading its model: connections are accepted (the kernel's backlog), nothing answered."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    return listener


@pytest.mark.parametrize("waited_for_turn_s", [0.0, 1.5])
def test_the_time_spent_waiting_for_the_chats_turn_counts_against_the_budget(waited_for_turn_s: float) -> None:
    # Budget: 1 s of attempts, the last of which may take 2 s — 3 s from the message's arrival.
    with silent_replica() as replica:
        port = replica.getsockname()[1]

        async def scenario() -> float:
            client = RasaClient(f"http://127.0.0.1:{port}", timeout_s=2.0, retry_for_s=1.0, identity_key=KEY)
            started = time.monotonic()
            try:
                with pytest.raises(RasaUnavailable):
                    await client.reply(Incoming("web", "s1", "dat lich"), "id-1", since=started - waited_for_turn_s)
                return time.monotonic() - started
            finally:
                await client.close()

        elapsed = asyncio.run(scenario())
    # No wait: one 2 s attempt, then no time to start another. After 1.5 s in the queue: the attempt gets
    # the 1.5 s left of the budget (its full 2 s would end after 3.5 s).
    expected = 2.0 if waited_for_turn_s == 0 else 1.5
    assert expected - 0.2 <= elapsed <= expected + 0.4, elapsed
