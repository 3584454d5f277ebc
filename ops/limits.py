"""Rate limits: one storage for the whole app, and each door's limits, checked in its own hooks.

``RATELIMIT_STORAGE_URI`` is ``memory://`` for one process and ``redis://...`` for several (every
gunicorn worker then counts in one place). A door declares a ``Limit`` (which config setting
says how many, and a scope) and counts a request against a key it chooses (``hit``), or checks
one it will count later (``check`` now, ``hit`` once the answer is known). Over a limit:
``RateLimited``, which the door answers as 429 with ``Retry-After`` in its own shape.

Built on the ``limits`` library directly, not through Flask-Limiter: with the same counters and
storage, Flask-Limiter's request hook re-resolved and re-parsed every declared limit on every
request, 0.17 ms of a 1 ms single-user GET (in-process, SQLite). A limit string is parsed once
here, and a request costs the storage's increment.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from functools import cache
from typing import cast

from flask import Flask, current_app
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from ops import metrics

log = logging.getLogger(__name__)

_EXTENSION = "heap_rate_limits"


class InProcessStorage(MemoryStorage):
    """``memory://``, without a thread per request.

    limits' MemoryStorage starts a ``threading.Timer`` on nearly every hit to sweep expired
    keys (a thread start per request: 10% of a served GET here). Expiry is already checked
    when a key is read; the sweep that bounds memory runs here every ``SWEEP_EVERY`` hits,
    inline. Registered under the same scheme, so ``RATELIMIT_STORAGE_URI=memory://`` (the
    one-process default) means this.
    """

    STORAGE_SCHEME = ["memory"]
    SWEEP_EVERY = 1000

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **_: str) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **_)
        self.timer.cancel()
        self._hits = 0
        self._sweeping = threading.Lock()

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        self.get(key)  # drops the count once its window has passed
        self._hits += 1
        if self._hits % self.SWEEP_EVERY == 0 and self._sweeping.acquire(blocking=False):
            try:
                self._MemoryStorage__expire_events()  # type: ignore[attr-defined]
            finally:
                self._sweeping.release()
        with self.locks[key]:
            self.storage[key] += amount
            if self.storage[key] == amount:
                self.expirations[key] = time.time() + expiry
        return self.storage.get(key, 0)


# A Redis that hangs would hold every limited request with it: give up after a second (the
# limit is then skipped, as when Redis is down).
REDIS_OPTIONS = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}


class RateLimited(Exception):
    """A request over ``limit``; it may be retried after ``retry_after`` seconds."""

    def __init__(self, limit: RateLimitItem, scope: str, retry_after: int) -> None:
        super().__init__(str(limit))
        self.limit = limit
        self.scope = scope
        self.retry_after = retry_after

    @property
    def description(self) -> str:
        """The limit as people read it: "600 per 1 minute"."""
        return str(self.limit)


@dataclass(frozen=True)
class Limit:
    """So many requests a window, read from the app's ``setting``, counted per key in ``scope``.

    A limit is a guard, not a correctness rule: when its storage fails (Redis away), the
    request goes on and the failure is logged, never answered as a 5xx.
    """

    setting: str
    scope: str

    def hit(self, key: str) -> None:
        """Count this request against ``key``; ``RateLimited`` if that takes it over."""
        self._ask(key, counts=True, refuses=True)

    def count(self, key: str) -> None:
        """Count a request against ``key`` once its answer is known; refuses nothing now."""
        self._ask(key, counts=True, refuses=False)

    def check(self, key: str) -> None:
        """``RateLimited`` if ``key`` has already used up the limit; counts nothing."""
        self._ask(key, counts=False, refuses=True)

    def _ask(self, key: str, *, counts: bool, refuses: bool) -> None:
        limiter = _limiter()
        if limiter is None:
            return
        item = _parsed(str(current_app.config[self.setting]))
        try:
            allowed = (limiter.hit if counts else limiter.test)(item, self.scope, key)
        except StorageError as error:
            log.warning("rate limit %s skipped: its storage failed (%s)", self.scope, error)
            return
        if refuses and not allowed:
            raise self._refusal(limiter, item, key)

    def _refusal(
        self, limiter: FixedWindowRateLimiter, item: RateLimitItem, key: str
    ) -> RateLimited:
        metrics.count_rate_limited()
        try:
            reset_at = limiter.get_window_stats(item, self.scope, key).reset_time
        except StorageError:
            reset_at = time.time() + item.get_expiry()
        # Up, not down: a client retrying at the second it was told must find the window reset.
        return RateLimited(item, self.scope, retry_after=max(1, math.ceil(reset_at - time.time())))


@cache
def _parsed(text: str) -> RateLimitItem:
    return parse(text)


def _limiter() -> FixedWindowRateLimiter | None:
    limiter: FixedWindowRateLimiter | None = current_app.extensions[_EXTENSION]
    return limiter


def init_app(app: Flask) -> None:
    """The app's counters: ``RATELIMIT_STORAGE_URI`` (``RATELIMIT_ENABLED`` false: none)."""
    if not app.config.setdefault("RATELIMIT_ENABLED", True):
        app.extensions[_EXTENSION] = None
        return
    uri = str(app.config.get("RATELIMIT_STORAGE_URI") or "memory://")
    options = dict(app.config.get("RATELIMIT_STORAGE_OPTIONS") or {})
    if uri.startswith("redis"):
        options = {**REDIS_OPTIONS, **options}
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", dict(options))
    # A sync storage for a sync URI: memory:// and redis:// (the async ones are async+...).
    storage = cast(Storage, storage_from_string(uri, wrap_exceptions=True, **options))
    app.extensions[_EXTENSION] = FixedWindowRateLimiter(storage)


def reset(app: Flask) -> None:
    """Forget every count (tests start from zero)."""
    limiter: FixedWindowRateLimiter | None = app.extensions[_EXTENSION]
    if limiter is not None:
        limiter.storage.reset()
