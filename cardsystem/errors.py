"""The base of every business-rule error.

Services raise subclasses with a stable `code`; the API turns them into
`{"error": {"code", "message"}}` with the subclass's HTTP status, and pages show the message.
"""

from typing import Any, ClassVar

from django.http import Http404
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    code: ClassVar[str] = "domain_error"
    status: ClassVar[int] = 409
    default_message: ClassVar[str | Promise] = _("The request breaks a business rule.")

    def __init__(self, message: str | None = None, *, fields: dict[str, list[str]] | None = None) -> None:
        self.message = message or str(self.default_message)
        self.fields = fields
        super().__init__(self.message)

    def as_body(self) -> dict[str, Any]:
        """The API's error body (API.md)."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        return {"error": error}


class NotFound(DomainError, Http404):
    """Also Django's Http404, so a page that meets it answers 404 like the API does."""

    code = "not_found"
    status = 404
    default_message = _("Not found.")


class InvalidRequest(DomainError):
    """Input that is well-formed but names things that do not exist or are not the caller's."""

    code = "invalid_request"
    status = 400
    default_message = _("The request is not valid.")
