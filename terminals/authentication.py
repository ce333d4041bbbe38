"""`Authorization: Bearer <terminal token>` for the terminal API."""

from typing import Any

from django.http import HttpRequest
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request
from rest_framework.views import APIView

from terminals.models import Terminal, TerminalToken
from terminals.tokens import token_digest


class TerminalPrincipal:
    """Stands in for request.user on terminal calls; the terminal itself is request.auth."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self.pk = None


class TerminalTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request | HttpRequest) -> tuple[Any, Terminal] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        if scheme != self.keyword or not token.strip():
            return None
        found = (
            TerminalToken.objects.select_related("terminal__institution")
            .filter(digest=token_digest(token.strip()), revoked_at__isnull=True, terminal__is_active=True)
            .first()
        )
        if found is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked terminal token.")
        return TerminalPrincipal(found.terminal), found.terminal

    def authenticate_header(self, request: Request | HttpRequest) -> str:
        return self.keyword


class IsTerminal(permissions.BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return isinstance(request.auth, Terminal)


class TerminalTokenScheme(OpenApiAuthenticationExtension):
    """Documents the terminal token in the OpenAPI schema."""

    target_class = "terminals.authentication.TerminalTokenAuthentication"
    name = "terminalToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A terminal token issued in the back office."}
