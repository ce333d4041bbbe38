"""`/healthz`: is this web process able to serve? For load balancers and container health checks.

Cheap on purpose: one `SELECT 1` and, when Redis is configured, one PING; no sign-in, no session,
no template. Without the database nothing works: it answers 503, so an orchestrator takes the node
out of rotation. Without Redis the node still serves (the tills sell, tasks wait in the outbox, the
cache fails soft), so it answers 200 with `"status": "degraded"` naming `redis`: monitoring alerts,
and a load balancer does not take every node out at once. Errors go to the log, not the answer.
"""

import logging
from functools import cache

import redis
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

OK = "ok"
FAILED = "error"
NOT_CONFIGURED = "not configured"
DEGRADED = "degraded"

# A health check that hangs is worse than one that fails: the prober's own timeout fires with no
# answer. Redis normally answers in well under a millisecond.
REDIS_TIMEOUT_SECONDS = 1.0


@cache
def _redis_client(url: str) -> redis.Redis:
    # One client (and so one connection pool) per process: probes every few seconds must not each
    # open a new connection.
    return redis.Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS)


def database_check() -> str:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.exception("Health check: the database did not answer")
        return FAILED
    return OK


def redis_check() -> str:
    url: str = settings.REDIS_URL
    if not url:
        return NOT_CONFIGURED
    try:
        _redis_client(url).ping()
    except Exception:
        logger.exception("Health check: Redis did not answer")
        return FAILED
    return OK


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": database_check(), "redis": redis_check()}
    if checks["database"] == FAILED:
        return JsonResponse({"status": FAILED, **checks}, status=503)
    status = DEGRADED if checks["redis"] == FAILED else OK
    return JsonResponse({"status": status, **checks}, status=200)
