"""The conversation lock of the production profile's replicas (deploy/endpoints.yml; Rasa environment).

Rasa's RedisLockStore keeps a ticket queue per conversation as JSON in one key and reads, rewrites and
deletes it around every message: seven blocking round trips to Redis (issue, look, finish, look again,
delete), which were ≈ 1 ms of each message's CPU in Rasa (bench/profile.py, issue 21), and the
read-modify-write of a queue shared by the replicas is not atomic either. Here the lock is one key set
only if absent (`SET NX PX`), taken in one round trip and given back in one (a script deleting it only
while it still holds this holder's token).

What it keeps of Rasa's lock: one replica at a time handles a conversation; a holder that dies stops
holding it after `lock_lifetime` (TICKET_LOCK_LIFETIME, 10 s in production), and so does one that is
still working after that (the gateway channel's per-message lease covers that case, bot/channels.py).
What it does not keep: the tickets' first-come order among replicas waiting for the same conversation.
The gateway already hands a conversation one message at a time (its chat turn in Redis), so a second
waiter only exists when the gateway repeats a message whose attempt outlived its timeout, and that
repeat is answered from the record once it gets the lock. Waiters look again after 10 ms, doubling up to
`wait_time_in_seconds`.

The keys are `<key_prefix>:lock:mutex:<conversation id>`, apart from the ticket queues' so that a
replica of the previous release does not misread one during a rolling update (while both run, the two
kinds do not exclude each other: the chat turns of the gateway still do).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

# Deletes the key only while it still holds this holder's token: a lock that expired and was taken by
# another replica is not given back by the one that lost it.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""
_FIRST_PAUSE_S = 0.01


class ConversationLockStore(RedisLockStore):
    """One Redis key per conversation being handled (see the module's docstring). Configured like Rasa's
    `redis` lock store (url, port, db, password, key_prefix); `red` is its Redis client, as there."""

    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        if endpoint_config is not None:
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **kwargs}
        super().__init__(**kwargs)
        self._release = self.red.register_script(_RELEASE)

    def key(self, conversation_id: str) -> str:
        return f"{self.key_prefix}mutex:{conversation_id}"

    @asynccontextmanager
    async def lock(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = 1) -> AsyncIterator[Any]:
        key, token = self.key(conversation_id), secrets.token_hex(8)
        lifetime_ms = max(int(lock_lifetime * 1000), 1)
        # A holder gives the lock back or loses it within its lifetime: waiting longer would be waiting
        # for another waiter, and the gateway has its own budget for the message.
        give_up_at = time.monotonic() + lock_lifetime + wait_time_in_seconds
        pause = _FIRST_PAUSE_S
        while not self.red.set(key, token, nx=True, px=lifetime_ms):
            if time.monotonic() > give_up_at:
                raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")
            await asyncio.sleep(pause)
            pause = min(pause * 2, wait_time_in_seconds)
        try:
            # Rasa's callers take no value from the lock; a ticket lock keeps the interface.
            yield self.create_lock(conversation_id)
        finally:
            self._release(keys=[key], args=[token])

    def held(self, conversation_id: str) -> bool:
        """Whether some replica holds this conversation's lock now."""
        return bool(self.red.exists(self.key(conversation_id)))
