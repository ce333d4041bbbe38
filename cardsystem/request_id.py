"""A request id on every request: taken from `X-Request-ID` (set by the proxy) or made here.

It is kept in a context variable for the length of the request, so every log line written while
the request runs carries it (cardsystem.logging.RequestIdFilter), and it is sent back in the
response's `X-Request-ID` header so a user's report can be matched with the server's logs.
"""

import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponseBase

HEADER = "X-Request-ID"
# A proxy's id is kept only when it is short and plain: it goes into logs verbatim.
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:-]{1,128}")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def request_id_get() -> str | None:
    """The id of the request being handled, or None outside a request (tasks, commands)."""
    return request_id_var.get()


def request_id_for(header_value: str | None) -> str:
    """The caller's id when it is acceptable, otherwise a new random one."""
    if header_value and _ACCEPTABLE.fullmatch(header_value):
        return header_value
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        request_id = request_id_for(request.headers.get(HEADER))
        request.request_id = request_id  # type: ignore[attr-defined]
        # Kept until the response is finished, not just until this returns: Django logs a 4xx/5xx
        # ("Not Found: ...") after the middleware has run, and that line needs the id most.
        request_id_var.set(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


def _request_id_clear(**kwargs: Any) -> None:
    # A WSGI thread serves one request after another: the next log line outside a request gets none.
    request_id_var.set(None)


request_finished.connect(_request_id_clear, dispatch_uid="cardsystem.request_id.clear")
