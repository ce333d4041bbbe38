"""One error body for the whole API: {"error": {"code", "message", "fields"?}} (API.md)."""

from typing import Any

from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from cardsystem.errors import DomainError


def error_response(code: str, message: str, http_status: int, fields: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return Response({"error": body}, status=http_status)


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


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
            fields=_flatten(exc.detail) if isinstance(exc.detail, dict) else {"non_field_errors": _flatten(exc.detail)},
        )
    if isinstance(exc, exceptions.ParseError):
        return error_response("invalid_request", _("The body is not valid JSON."), status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return error_response("unauthorized", _("Missing or invalid credentials."), status.HTTP_401_UNAUTHORIZED)
    if isinstance(exc, exceptions.PermissionDenied):
        return error_response("forbidden", _("Not allowed."), status.HTTP_403_FORBIDDEN)
    response = drf_exception_handler(exc, context)
    if response is not None:
        code = getattr(exc, "default_code", "error")
        return error_response(str(code), str(getattr(exc, "detail", exc)), response.status_code)
    return None
