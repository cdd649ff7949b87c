"""What several gateway processes must agree on: whose turn a chat is, and how fast we may send.

One process needs nothing more than asyncio (`LocalCoordination`, the embedded default). Behind
nginx, several gateways share the same inbox and outbox in PostgreSQL, and these decisions move to
Redis (`RedisCoordination`, chosen by `GATEWAY_REDIS_URL`):

- a **chat lock**: one process at a time handles a chat's messages (it takes them from the inbox in
  arrival order, whichever process received them) or sends its replies;
- **send pacing**: the platform's overall rate (Telegram: ~30 messages/s per bot) is one budget for
  all processes, and one chat gets at most one message per interval, whichever process sends it.

A Redis lock expires if its holder dies (so a killed gateway does not freeze a chat) and is renewed
while held (so a slow Rasa reply does not let a second process in).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

# A lock's holder renews it every third of this; a dead holder's lock frees itself after it.
LOCK_TTL_S = 15.0
# How often a waiter asks again for a Redis lock held by another process.
LOCK_POLL_S = 0.02
# How long one Redis command may take before it counts as Redis unavailable.
REDIS_TIMEOUT_S = 5.0


class CoordinationUnavailable(Exception):
    """Redis could not be reached: a chat's turn cannot be granted safely."""


@dataclass(frozen=True)
class Held:
    """What a lock's block gets: true when it holds the lock. `after_another` when someone held it at
    the first try, so the block runs after another holder's work: a chat's turn then looks at what that
    work left (a web message's resend may have been answered first: Redis grants a contested lock to
    whichever waiter asks first after its release, not to the first that came)."""

    held: bool
    after_another: bool = False

    def __bool__(self) -> bool:
        return self.held


class Coordination(Protocol):
    def lock(self, name: str, *, wait: bool = True,
             within_s: float | None = None) -> contextlib.AbstractAsyncContextManager[Held]:
        """Hold `name` for the block; yields a false Held when it is taken and `wait` is off (at once)
        or it stayed taken for `within_s` seconds."""

    async def next_slot(self, name: str, interval_s: float) -> float:
        """Book the next send slot of a rate limit shared by all processes; the seconds to wait for it."""

    async def take_turn(self, name: str, interval_s: float) -> bool:
        """True (and the turn is taken) when `interval_s` has passed since the last turn of `name`."""

    async def alive(self) -> bool:
        """Whether the shared store answers (readiness)."""

    async def close(self) -> None: ...


class LocalCoordination:
    """One gateway process: asyncio locks (fair, so a chat's tasks run in creation order) and clocks."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}
        self._next: dict[str, float] = {}

    @contextlib.asynccontextmanager
    async def lock(self, name: str, *, wait: bool = True, within_s: float | None = None) -> AsyncIterator[Held]:
        lock = self._locks.setdefault(name, asyncio.Lock())
        if not wait and lock.locked():
            yield Held(False)
            return
        after_another = lock.locked()
        self._users[name] = self._users.get(name, 0) + 1
        try:
            try:
                await asyncio.wait_for(lock.acquire(), timeout=within_s)
            except TimeoutError:
                yield Held(False)
                return
            try:
                yield Held(True, after_another)
            finally:
                lock.release()
        finally:
            self._users[name] -= 1
            if not self._users[name]:  # chats come and go; keep only locks someone holds or awaits
                del self._users[name], self._locks[name]

    async def next_slot(self, name: str, interval_s: float) -> float:
        moment = time.monotonic()
        slot = max(moment, self._next.get(name, 0.0))
        self._next[name] = slot + interval_s
        return slot - moment

    async def take_turn(self, name: str, interval_s: float) -> bool:
        moment = time.monotonic()
        if moment < self._next.get(name, 0.0):
            return False
        self._next[name] = moment + interval_s
        if len(self._next) > 10_000:  # forget chats whose interval has long passed
            self._next = {k: v for k, v in self._next.items() if v > moment}
        return True

    async def alive(self) -> bool:
        return True

    async def close(self) -> None:
        return None


# Redis' own clock decides (TIME), so gateways on several machines need not agree on the time.
_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 "
_NEXT_SLOT = _NOW + """
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
redis.call('SET', KEYS[1], tostring(slot + tonumber(ARGV[1])), 'PX', ARGV[2])
return tostring(slot - now)
"""
_TAKE_TURN = _NOW + """
if now < tonumber(redis.call('GET', KEYS[1]) or '0') then return 0 end
redis.call('SET', KEYS[1], tostring(now + tonumber(ARGV[1])), 'PX', ARGV[2])
return 1
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisCoordination:
    """Several gateway processes (or machines) sharing one Redis."""

    def __init__(self, url: str, *, prefix: str = "ksk:gateway:", lock_ttl_s: float = LOCK_TTL_S,
                 password: str | None = None) -> None:
        # Timeouts: a Redis that stops answering must fail a chat's turn (the resident hears "busy"),
        # not hold the request until nginx gives up on it. A password in the URL wins over `password`.
        self.redis = Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S,
                                    password=password)
        self.prefix = prefix
        self.ttl_ms = int(lock_ttl_s * 1000)
        self._next_slot = self.redis.register_script(_NEXT_SLOT)
        self._take_turn = self.redis.register_script(_TAKE_TURN)
        self._renew = self.redis.register_script(_RENEW)
        self._release = self.redis.register_script(_RELEASE)

    @contextlib.asynccontextmanager
    async def lock(self, name: str, *, wait: bool = True, within_s: float | None = None) -> AsyncIterator[Held]:
        key, token = f"{self.prefix}lock:{name}", uuid.uuid4().hex
        give_up_at = None if within_s is None else time.monotonic() + within_s
        after_another = False
        while not await self._try(key, token):
            after_another = True
            if not wait or (give_up_at is not None and time.monotonic() >= give_up_at):
                yield Held(False)
                return
            await asyncio.sleep(LOCK_POLL_S)
        done = asyncio.Event()
        # The renewer starts only when a third of the lifetime has passed: almost every turn is over
        # long before, and a task per message was a measurable share of the gateway's CPU (issue 21).
        renewals: list[asyncio.Task[None]] = []
        first_renewal = asyncio.get_running_loop().call_later(
            self.ttl_ms / 3000, lambda: renewals.append(asyncio.create_task(self._keep(key, token, done))))
        try:
            yield Held(True, after_another)
        finally:
            first_renewal.cancel()
            done.set()
            for renewal in renewals:
                # The renewer is told to stop, not cancelled: a cancellation delivered inside a Redis
                # command was seen swallowed there (the renewer then went on renewing, and awaiting it
                # hung the chat's request until nginx gave up). It is waited for only as long as one
                # Redis command may take.
                finished, _ = await asyncio.wait({renewal}, timeout=REDIS_TIMEOUT_S)
                if not finished:
                    renewal.cancel()
                elif not renewal.cancelled():
                    # Retrieved, so asyncio does not report it: a failed renewal (the lock may have
                    # expired early) leaves nothing to do but release.
                    renewal.exception()
            await self._release(keys=[key], args=[token])

    async def _try(self, key: str, token: str) -> bool:
        try:
            return bool(await self.redis.set(key, token, nx=True, px=self.ttl_ms))
        except RedisError as error:
            raise CoordinationUnavailable(type(error).__name__) from error

    async def alive(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except RedisError:
            return False

    async def _keep(self, key: str, token: str, done: asyncio.Event) -> None:
        """Renews now (a third of the lifetime has passed), then every third of it until `done`."""
        while not done.is_set():
            await self._renew(keys=[key], args=[token, self.ttl_ms])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=self.ttl_ms / 3000)

    async def next_slot(self, name: str, interval_s: float) -> float:
        wait = await self._next_slot(keys=[f"{self.prefix}rate:{name}"], args=[interval_s, self._expiry(interval_s)])
        return max(float(wait), 0.0)

    async def take_turn(self, name: str, interval_s: float) -> bool:
        taken = await self._take_turn(keys=[f"{self.prefix}turn:{name}"], args=[interval_s, self._expiry(interval_s)])
        return bool(int(taken))

    @staticmethod
    def _expiry(interval_s: float) -> int:
        # A key outlives its interval a little, then disappears: no clean-up job needed.
        return int(interval_s * 1000) + 60_000

    async def close(self) -> None:
        await self.redis.aclose()


def coordination_from(redis_url: str | None, password: str | None = None) -> Coordination:
    return RedisCoordination(redis_url, password=password) if redis_url else LocalCoordination()
