"""The Redis cache, failing soft: when Redis does not answer, the cache behaves as an empty one.

Everything the project keeps in the cache is a counter or a hint that may be lost: API rate limits,
sign-in and re-confirmation attempt counters, the office reader's last card read. None of it is
worth a failed request, and the till must sell while Redis is down. So a Redis error is logged once,
the call answers as an empty cache that forgets what it is given (get: the default; add: added, so
a lock is taken and a counter starts; incr: the delta, as for a new counter), and this process
leaves Redis alone for PAUSE_SECONDS, so a Redis that hangs does not cost every request its socket
timeout. Rate limits are therefore not enforced while Redis is down.
"""

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

PAUSE_SECONDS = 30.0
T = TypeVar("T")


class FailSoftRedisCacheClient(RedisCacheClient):
    _paused_until = 0.0

    def _soft(self, call: Callable[[], T], fallback: T) -> T:
        if time.monotonic() < FailSoftRedisCacheClient._paused_until:
            return fallback
        try:
            return call()
        except (RedisError, OSError) as error:
            FailSoftRedisCacheClient._paused_until = time.monotonic() + PAUSE_SECONDS
            logger.warning("The cache (Redis) does not answer; working without it for %ss: %s", PAUSE_SECONDS, error)
            return fallback

    def add(self, key: Any, value: Any, timeout: Any) -> bool:
        return self._soft(lambda: super(FailSoftRedisCacheClient, self).add(key, value, timeout), True)

    def get(self, key: Any, default: Any) -> Any:
        return self._soft(lambda: super(FailSoftRedisCacheClient, self).get(key, default), default)

    def set(self, key: Any, value: Any, timeout: Any) -> None:
        self._soft(lambda: super(FailSoftRedisCacheClient, self).set(key, value, timeout), None)

    def touch(self, key: Any, timeout: Any) -> bool:
        return self._soft(lambda: super(FailSoftRedisCacheClient, self).touch(key, timeout), False)

    def delete(self, key: Any) -> bool:
        return self._soft(lambda: super(FailSoftRedisCacheClient, self).delete(key), False)

    def get_many(self, keys: Any) -> dict[Any, Any]:
        return self._soft(lambda: super(FailSoftRedisCacheClient, self).get_many(keys), {})

    def has_key(self, key: Any) -> bool:
        return self._soft(lambda: super(FailSoftRedisCacheClient, self).has_key(key), False)

    def incr(self, key: Any, delta: int) -> Any:
        return self._soft(lambda: super(FailSoftRedisCacheClient, self).incr(key, delta), delta)

    def set_many(self, data: Any, timeout: Any) -> None:
        self._soft(lambda: super(FailSoftRedisCacheClient, self).set_many(data, timeout), None)

    def delete_many(self, keys: Any) -> None:
        self._soft(lambda: super(FailSoftRedisCacheClient, self).delete_many(keys), None)

    def clear(self) -> bool:
        return self._soft(lambda: super(FailSoftRedisCacheClient, self).clear(), False)


def cache_pause_end() -> None:
    """Ask Redis again from the next call on (tests, and a process that knows Redis is back)."""
    FailSoftRedisCacheClient._paused_until = 0.0


class FailSoftRedisCache(RedisCache):
    def __init__(self, server: Any, params: Any) -> None:
        super().__init__(server, params)
        self._class = FailSoftRedisCacheClient
