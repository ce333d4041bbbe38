"""Personal API tokens: made and revoked in the portal; only the digest is stored."""

import hashlib

import pytest
from django.test import Client

from accounts.models import PersonalToken
from accounts.services import personal_token_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_the_token_page_shows_the_raw_token_once_and_stores_only_its_digest() -> None:
    user = UserFactory()
    client = signed_in(user)

    made = client.post("/portal/tokens/", {"name": "Family app"})
    token = PersonalToken.objects.get(user=user)
    raw = made.context["raw_token"]
    again = client.get("/portal/tokens/")

    assert made.status_code == 201
    assert raw in made.content.decode()
    assert token.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {token.digest, token.prefix, token.name}
    assert raw not in again.content.decode()
    assert "Family app" in again.content.decode()


def test_revoking_a_token_on_the_page_stops_it_working() -> None:
    user = UserFactory()
    token, raw = personal_token_create(user=user, name="app")

    response = signed_in(user).post(f"/portal/tokens/{token.pk}/revoke/")

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert Client().get("/api/v1/me/holders", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_another_users_token_cannot_be_revoked() -> None:
    token, _raw = personal_token_create(user=UserFactory(), name="app")

    response = signed_in(UserFactory()).post(f"/portal/tokens/{token.pk}/revoke/")

    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_the_token_page_needs_a_sign_in() -> None:
    response = Client().get("/portal/tokens/")

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
