"""The language switcher remembers a signed-in user's choice, which their e-mails are written in."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.language import user_language
from accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_switching_language_saves_it_on_the_signed_in_user(client: Client) -> None:
    user = UserFactory()
    client.force_login(user)

    response = client.post(reverse("set_language"), {"language": "ar", "next": "/portal/"})

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.language == "ar"
    assert user_language(user) == "ar"


def test_an_unknown_language_is_not_saved(client: Client) -> None:
    user = UserFactory()
    client.force_login(user)

    client.post(reverse("set_language"), {"language": "xx", "next": "/portal/"})

    user.refresh_from_db()
    assert user.language == ""


def test_a_user_who_never_chose_is_written_to_in_the_deployments_language() -> None:
    user: User = UserFactory()

    assert user_language(user) == "da"


def test_switching_language_signed_out_still_sets_the_cookie(client: Client) -> None:
    response = client.post(reverse("set_language"), {"language": "ru", "next": "/"})

    assert response.cookies["django_language"].value == "ru"
