"""Per-key request limits, as Custom Vision's pricing tiers have them: over the limit, 429 + ``Retry-After``.

A token bucket per key and API: ``rate`` requests a second, up to ``burst`` at once. A request over it is
answered 429 with Custom Vision's flat error body and ``Retry-After`` in whole seconds (at least 1), before
the key is checked and before the body is read. That is what the official Python SDK understands: msrest's
urllib3 retry policy waits ``Retry-After`` and retries GET, PUT and DELETE up to 3 times; a POST (uploads,
predictions) is not retried and raises ``CustomVisionErrorException`` with status 429, as against Azure.

The caller is the key that the route checks (``Training-Key`` / ``Prediction-Key``, else
``Ocp-Apim-Subscription-Key``, as ``shared.api.auth`` reads them); a request without one passes and the key
check answers it. Buckets are kept under a keyed hash of the key, never the key, in a bounded LRU, in this
process only: N instances allow N times the rate.

A pure ASGI middleware (not ``BaseHTTPMiddleware``): a request it lets through streams as before. It sees
the path as sent (any API version, any casing), so it matches through ``canonical_path``.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.api.errors import error_response
from shared.api.paths import PREDICTION_PREFIX, TRAINING_PREFIX, canonical_path
from shared.domain.errors import Code
from shared.domain.limits import MAX_RATE_LIMITED_KEYS
from shared.settings import Settings

__all__ = ["ApiLimit", "RateLimits", "TokenBuckets", "install_rate_limits"]

# Float slack, so that a refill of exactly one token (0.5 s at 2/s) counts as one.
_EPSILON = 1e-9
_SUBSCRIPTION_KEY = b"ocp-apim-subscription-key"


class TokenBuckets:
    """One token bucket per key: ``rate`` tokens a second, at most ``burst``; thread-safe, bounded."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_keys: int = MAX_RATE_LIMITED_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (0 < rate < math.inf) or burst < 1 or max_keys < 1:
            raise ValueError("a token bucket needs a positive finite rate, a burst of at least 1 and room for a key")
        self.rate = rate
        self.burst = burst
        self._max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()  # key -> (tokens, when)

    def take(self, key: bytes) -> float:
        """Take a token for ``key``: 0.0 when there was one, else the seconds until there will be one."""
        with self._lock:
            now = self._clock()
            tokens, when = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + max(0.0, now - when) * self.rate)
            wait = 0.0
            if tokens >= 1.0 - _EPSILON:
                tokens = max(0.0, tokens - 1.0)
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
            return wait

    def __len__(self) -> int:
        with self._lock:
            return len(self._buckets)


@dataclass(frozen=True)
class ApiLimit:
    """The limit of one API: its canonical path prefix, the key header its routes check, its buckets."""

    api: str  # "Training" or "Prediction", for the message
    prefix: str
    header: bytes  # lowercase
    buckets: TokenBuckets

    def covers(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")


def retry_after_seconds(wait: float) -> int:
    """``Retry-After`` for a wait: whole seconds, rounded up, at least 1 (urllib3 does not wait on 0)."""
    return max(1, math.ceil(wait - _EPSILON))


class RateLimits:
    def __init__(self, app: ASGIApp, limits: Sequence[ApiLimit]) -> None:
        self.app = app
        self._limits = tuple(limits)
        # Keyed per process, so that a bucket's name is not a key's plain hash.
        self._salt = os.urandom(16)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            limit = self._limit_for(scope["path"])
            key = _key(scope.get("headers") or [], limit.header) if limit is not None else None
            if limit is not None and key:
                wait = limit.buckets.take(hashlib.blake2b(key, key=self._salt, digest_size=16).digest())
                if wait > 0:
                    await _too_many_requests(scope, receive, send, limit, retry_after_seconds(wait))
                    return
        await self.app(scope, receive, send)

    def _limit_for(self, path: str) -> ApiLimit | None:
        canonical, version = canonical_path(path)
        if version is None:
            return None
        return next((limit for limit in self._limits if limit.covers(canonical)), None)


def _key(headers: Sequence[tuple[bytes, bytes]], header: bytes) -> bytes | None:
    # As shared.api.auth reads it: the route's header, else the subscription-key alias; the first of each.
    found: dict[bytes, bytes] = {}
    for name, value in headers:
        name = name.lower()
        if name in (header, _SUBSCRIPTION_KEY) and name not in found:
            found[name] = value
    return found.get(header) or found.get(_SUBSCRIPTION_KEY) or None


async def _too_many_requests(scope: Scope, receive: Receive, send: Send, limit: ApiLimit, seconds: int) -> None:
    unit = "second" if seconds == 1 else "seconds"
    message = (
        f"Requests to the {limit.api} API with this key have exceeded its rate limit of "
        f"{limit.buckets.rate:g} per second. Please retry after {seconds} {unit}."
    )
    response = error_response(429, Code.TOO_MANY_REQUESTS.value, message, {"Retry-After": str(seconds)})
    await response(scope, receive, send)


def _burst(rate: float, burst: int) -> int:
    # 0: one second's worth, as Custom Vision's limits are per second.
    return burst or max(1, math.ceil(rate))


def install_rate_limits(app: FastAPI, settings: Settings) -> None:
    """Add the limits that ``settings`` turn on (none by default); call it inside CORS, so that a preflight
    (which carries no key) is answered first, and a 429 carries the CORS headers a browser needs to read it."""
    limits = [
        ApiLimit(api, prefix, header, TokenBuckets(rate, _burst(rate, burst)))
        for api, prefix, header, rate, burst in (
            ("Training", TRAINING_PREFIX, b"training-key", settings.training_rate_limit, settings.training_rate_burst),
            (
                "Prediction",
                PREDICTION_PREFIX,
                b"prediction-key",
                settings.prediction_rate_limit,
                settings.prediction_rate_burst,
            ),
        )
        if rate > 0
    ]
    if limits:
        app.add_middleware(RateLimits, limits=limits)
