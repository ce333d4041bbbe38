"""Guardian accounts with django-allauth: sign-up with a verified e-mail, sign-in, password reset,
optional two-factor (TOTP), login rate limits, and allauth's pages in the site's frame."""

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.core import mail
from django.core.cache import cache
from django.test import Client

from accounts.models import User
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-long-new-password-42"
SITE_HEADER = 'class="site-header"'


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    # allauth keeps its rate-limit counters in the cache.
    cache.clear()


def verified_user() -> User:
    user = UserFactory(email="guardian@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def signed_in_by_password(user: User) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def test_sign_up_sends_a_verification_mail() -> None:
    response = Client().post(
        "/accounts/signup/", {"email": "new@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )

    assert response.status_code == 302
    assert User.objects.filter(email="new@example.com").exists()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new@example.com"]
    assert "/accounts/confirm-email/" in mail.outbox[0].body


def test_a_new_account_cannot_sign_in_before_its_e_mail_is_verified() -> None:
    Client().post(
        "/accounts/signup/", {"email": "new@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    client = Client()

    response = client.post("/accounts/login/", {"login": "new@example.com", "password": NEW_PASSWORD})

    assert response["Location"] == "/accounts/confirm-email/"
    assert "_auth_user_id" not in client.session


def test_a_verified_guardian_signs_in_and_lands_in_the_portal() -> None:
    user = verified_user()
    client = signed_in_by_password(user)

    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.get("/")["Location"] == "/portal/"


def test_a_wrong_password_does_not_sign_in() -> None:
    user = verified_user()
    client = Client()

    response = client.post("/accounts/login/", {"login": user.email, "password": "wrong-password"})

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_signing_out_ends_the_session() -> None:
    client = signed_in_by_password(verified_user())

    client.post("/accounts/logout/")

    assert "_auth_user_id" not in client.session


def test_password_reset_sends_a_mail() -> None:
    user = verified_user()

    response = Client().post("/accounts/password/reset/", {"email": user.email})

    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [user.email]
    assert "/accounts/password/reset/key/" in mail.outbox[0].body


def test_too_many_failed_logins_are_refused_even_with_the_right_password() -> None:
    user = verified_user()
    client = Client()
    for _attempt in range(5):  # ACCOUNT_RATE_LIMITS: 5 failures per 5 minutes per address
        client.post("/accounts/login/", {"login": user.email, "password": "wrong-password"})

    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})

    assert "_auth_user_id" not in client.session
    assert response.context["form"].has_error("__all__", "too_many_login_attempts")


def test_the_two_factor_overview_renders_for_a_signed_in_user() -> None:
    response = signed_in_by_password(verified_user()).get("/accounts/2fa/")

    assert response.status_code == 200
    assert SITE_HEADER in response.content.decode()


def test_setting_up_an_authenticator_app_asks_for_the_password_again() -> None:
    response = signed_in_by_password(verified_user()).get("/accounts/2fa/totp/activate/")

    assert response["Location"].startswith("/accounts/reauthenticate/")


def test_the_authenticator_app_setup_page_shows_a_qr_code_after_the_password() -> None:
    pytest.importorskip("qrcode")  # allauth's "mfa" extra
    client = signed_in_by_password(verified_user())
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})

    response = client.get("/accounts/2fa/totp/activate/")

    assert response.status_code == 200
    page = response.content.decode()
    assert SITE_HEADER in page
    assert "data:image/svg+xml;base64," in page


@pytest.mark.parametrize(
    "url", ["/accounts/signup/", "/accounts/login/", "/accounts/password/reset/", "/accounts/confirm-email/"]
)
def test_the_sign_in_pages_use_the_site_layout(url: str) -> None:
    response = Client().get(url)

    assert response.status_code == 200
    assert SITE_HEADER in response.content.decode()


@pytest.mark.parametrize("url", ["/accounts/email/", "/accounts/password/change/", "/accounts/reauthenticate/"])
def test_the_account_pages_use_the_site_layout(url: str) -> None:
    response = signed_in_by_password(verified_user()).get(url)

    assert response.status_code == 200
    assert SITE_HEADER in response.content.decode()


def test_changing_the_password_needs_the_old_one_and_the_new_one_signs_in() -> None:
    user = verified_user()
    client = signed_in_by_password(user)

    refused = client.post(
        "/accounts/password/change/",
        {"oldpassword": "not-it", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    changed = client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert refused.status_code == 200 and "oldpassword" in refused.context["form"].errors
    assert changed.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_a_new_e_mail_address_is_verified_before_it_is_used() -> None:
    user = verified_user()
    client = signed_in_by_password(user)

    response = client.post("/accounts/email/", {"action_add": "", "email": "new.address@example.com"})

    assert response.status_code == 302
    assert EmailAddress.objects.filter(user=user, email="new.address@example.com", verified=False).exists()
    assert mail.outbox[-1].to == ["new.address@example.com"]
    user.refresh_from_db()
    assert user.email == "guardian@example.com"  # the primary address stays until the new one is verified


def test_with_an_authenticator_app_the_password_alone_does_not_sign_in_and_the_code_does() -> None:
    user = verified_user()
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    client = Client()

    first = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert first["Location"] == "/accounts/2fa/authenticate/"
    assert "_auth_user_id" not in client.session
    counter = next(yield_hotp_counters_from_time())
    second = client.post("/accounts/2fa/authenticate/", {"code": format_hotp_value(hotp_value(secret, counter))})

    assert second.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_a_wrong_authenticator_code_does_not_sign_in() -> None:
    user = verified_user()
    TOTP.activate(user, generate_totp_secret())
    client = Client()
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})

    response = client.post("/accounts/2fa/authenticate/", {"code": "000000"})

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
