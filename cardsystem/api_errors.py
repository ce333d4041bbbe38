"""One error body for the whole API: {"error": {"code", "message", "fields"?}} (API.md)."""

import logging
import math
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from cardsystem.errors import DomainError

logger = logging.getLogger(__name__)


def error_response(code: str, message: str, http_status: int, fields: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return Response({"error": body}, status=http_status)


NON_FIELD = "non_field_errors"


def _fields(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """A serializer's errors as API.md's `{"name": ["message"]}`: nested fields get dotted names
    (`lines.0.quantity`), and a nested object's own errors its name (`allocations`)."""
    fields: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = prefix if key == NON_FIELD and prefix else (f"{prefix}.{key}" if prefix else str(key))
            for field, messages in _fields(value, name).items():
                fields.setdefault(field, []).extend(messages)
    elif isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        for index, item in enumerate(detail):
            for field, messages in _fields(item, f"{prefix}.{index}" if prefix else str(index)).items():
                fields.setdefault(field, []).extend(messages)
    elif isinstance(detail, list):
        if detail:
            fields[prefix or NON_FIELD] = [str(item) for item in detail]
    else:
        fields[prefix or NON_FIELD] = [str(detail)]
    return fields


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 for a path no URL pattern takes (e.g. `/api/v1/me/holders/abc`): the API's
    error body under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": "not_found", "message": _("Not found.")}}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's 500 for an error nothing else handled: the API's error body under /api/ (a till or
    an app reads JSON, never an HTML page), Django's page elsewhere. The error is logged by Django."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": {"code": "server_error", "message": _("Something went wrong on our side. Try again.")}},
            status=500,
        )
    return defaults.server_error(request)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(exc.as_body(), status=exc.status)
    if isinstance(exc, Http404 | exceptions.NotFound):
        return error_response("not_found", _("Not found."), status.HTTP_404_NOT_FOUND)
    if isinstance(exc, exceptions.ValidationError):
        return error_response(
            "invalid_request",
            _("The request is not valid."),
            status.HTTP_400_BAD_REQUEST,
            fields=_fields(exc.detail),
        )
    if isinstance(exc, exceptions.ParseError):
        return error_response("invalid_request", _("The body is not valid JSON."), status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return error_response("unauthorized", _("Missing or invalid credentials."), status.HTTP_401_UNAUTHORIZED)
    if isinstance(exc, exceptions.PermissionDenied):
        return error_response("forbidden", _("Not allowed."), status.HTTP_403_FORBIDDEN)
    if isinstance(exc, exceptions.Throttled):
        throttled = error_response("throttled", _("Too many requests. Try again shortly."), exc.status_code)
        wait: float | None = getattr(exc, "wait", None)
        if wait is not None:
            throttled["Retry-After"] = str(max(1, math.ceil(wait)))
        return throttled
    if isinstance(exc, OperationalError | InterfaceError):
        # The database connection failed mid-request (a restart, a fail-over, a dropped connection)
        # or the transaction could not go on (deadlock, serialisation): it rolled back, so the
        # caller may send the request again, with the same Idempotency-Key.
        logger.error("database unavailable during %s", context["request"].path, exc_info=exc)
        unavailable = error_response(
            "service_unavailable",
            _("The service is briefly unavailable. Try again."),
            status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        unavailable["Retry-After"] = "1"
        return unavailable
    response = drf_exception_handler(exc, context)
    if response is not None:
        code = getattr(exc, "default_code", "error")
        return error_response(str(code), str(getattr(exc, "detail", exc)), response.status_code)
    return None
