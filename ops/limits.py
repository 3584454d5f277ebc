"""One Flask-Limiter for the whole app, so both doors share one storage setting.

``RATELIMIT_STORAGE_URI`` is ``memory://`` for one process and ``redis://...`` for several; each
door attaches its own limits (and key functions) to its blueprint or view.
"""

from __future__ import annotations

import threading
import time

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits.storage import MemoryStorage

from ops import metrics


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


# Headers off: Retry-After belongs on a 429 alone, not on every response. Storage errors are
# swallowed (and logged by the limiter): Redis being away must not turn requests into 5xx; a
# limit is a guard, not a correctness rule. Every refusal, from either door, is counted once.
limiter = Limiter(
    key_func=get_remote_address,
    headers_enabled=False,
    swallow_errors=True,
    on_breach=metrics.count_rate_limited,
)

# A Redis that hangs would hold every limited request with it: give up after a second (the
# limit is then skipped, as when Redis is down).
REDIS_OPTIONS = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}


def init_app(app: Flask) -> None:
    if str(app.config.get("RATELIMIT_STORAGE_URI", "")).startswith("redis"):
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", dict(REDIS_OPTIONS))
    limiter.init_app(app)


def retry_after_seconds(default: int = 60) -> int:
    """Whole seconds until the limit that refused this request resets (at least 1)."""
    current = limiter.current_limit
    return max(1, int(current.reset_at - time.time())) if current else default
