"""`Authorization: Bearer <personal token>` for the guardian API."""

from datetime import timedelta
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import PersonalToken, User
from accounts.tokens import token_digest

# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=5)


class PersonalTokenAuthentication(authentication.BaseAuthentication):
    """A guardian's personal token; a revoked, unknown or terminal token is refused (401)."""

    keyword = "Bearer"

    def authenticate(self, request: Request | HttpRequest) -> tuple[User, PersonalToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, raw = header.partition(" ")
        if scheme != self.keyword or not raw.strip():
            return None
        token = (
            PersonalToken.objects.select_related("user")
            .filter(digest=token_digest(raw.strip()), revoked_at__isnull=True, user__is_active=True)
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            PersonalToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return token.user, token

    def authenticate_header(self, request: Request | HttpRequest) -> str:
        return self.keyword


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    """Documents the personal token in the OpenAPI schema."""

    target_class = "accounts.authentication.PersonalTokenAuthentication"
    name = "personalToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A personal API token made in the portal."}
