"""`Authorization: Bearer <terminal token>` for the terminal API."""

from functools import cache
from typing import Any

from django.db import connection
from django.http import HttpRequest
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.models import Institution
from accounts.tokens import token_digest
from cardsystem.rawsql import column_count, instance, select_columns
from terminals.models import Terminal


class TerminalPrincipal:
    """Stands in for request.user on terminal calls; the terminal itself is request.auth."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self.pk = None


@cache
def _token_sql() -> str:
    return (
        f"SELECT {select_columns(Terminal, 't')}, {select_columns(Institution, 'i')} "  # noqa: S608 - columns from model metadata
        "FROM terminals_terminaltoken k "
        "JOIN terminals_terminal t ON t.id = k.terminal_id "
        "JOIN accounts_institution i ON i.id = t.institution_id "
        "WHERE k.digest = %s AND k.revoked_at IS NULL AND t.is_active"
    )


def terminal_for_token(token: str) -> Terminal | None:
    """The active terminal holding this unrevoked token, with its institution: one statement.

    Asked on every terminal request, so it is fixed SQL rather than an ORM query (cardsystem.rawsql).
    """
    with connection.cursor() as cursor:
        cursor.execute(_token_sql(), [token_digest(token)])
        row = cursor.fetchone()
    if row is None:
        return None
    split = column_count(Terminal)
    terminal = instance(Terminal, row[:split])
    terminal.institution = instance(Institution, row[split:])
    return terminal


class TerminalTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request | HttpRequest) -> tuple[Any, Terminal] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        if scheme != self.keyword or not token.strip():
            return None
        terminal = terminal_for_token(token.strip())
        if terminal is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked terminal token.")
        return TerminalPrincipal(terminal), terminal

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
