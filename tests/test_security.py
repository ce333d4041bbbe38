"""Who may reach what, production hardening, and the token rate limits.

The role × endpoint matrix walks the whole URL configuration, so a new page or endpoint is checked
as soon as it exists: nothing answers 500, an anonymous visitor reaches only the public pages, a
guardian reaches no back-office or staff page, and a terminal token opens only the terminal API.
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse

from accounts.models import Institution, Role, User
from accounts.services import membership_grant, personal_token_create
from cards.models import Card, Cardholder
from cards.services import guardianship_create
from terminals.models import Terminal
from tests.factories import CardFactory, InstitutionFactory, UserFactory, holder_with_balances, terminal_with_token

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parent.parent

# Pages anyone may open without signing in, by URL name (a 200 there is expected).
PUBLIC = {
    # Signing in, signing up, and getting back in (django-allauth).
    "account_login",
    "account_signup",
    "account_inactive",
    "account_reset_password",
    "account_reset_password_done",
    "account_reset_password_from_key",
    "account_reset_password_from_key_done",
    "account_email_verification_sent",
    "account_confirm_email",
    "admin:login",
    # The OpenAPI schema and its browser: the API contract is public, the data behind it is not.
    "schema",
    "api_docs",
    # The payment provider's side: its hosted page and the signed callback to us.
    "test_provider:page",
    "topups:callback",
    # Receipts and photos are reached by an unguessable token or by staff; a made-up token is a 404.
    "canteen:receipt",
    "canteen:receipt_pdf",
    "class_meals:receipt",
    "class_meals:receipt_pdf",
    # Liveness for the load balancer.
    "healthz",
}
# Pages of the people who work at an institution: never a guardian's.
STAFF_PREFIXES = ("admin/", "till/", "class-meals/", "self-service/", "kitchen/", "back-office/")
TERMINAL_API_PREFIX = "api/v1/terminal/"


@dataclass(frozen=True)
class Url:
    name: str
    route: str
    path: str


def _patterns(resolver: URLResolver, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str, URLPattern]]:
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _patterns(pattern, route, inner)
        elif isinstance(pattern, URLPattern):
            yield route, f"{namespace}{pattern.name}" if pattern.name else "", pattern


def _arguments(pattern: URLPattern, ids: dict[str, Any]) -> list[dict[str, Any]]:
    """Candidate keyword arguments for reverse(): real ids where we have them, then plain guesses."""
    names = list(pattern.pattern.regex.groupindex)
    candidates: list[dict[str, Any]] = [{}] if not names else []
    for guess in (ids, {}):
        if names:
            candidates.append({name: guess.get(name, "1") for name in names})
    # Admin pages take an app label from a closed list.
    candidates.append(dict.fromkeys(names, "accounts"))
    return candidates


def all_urls(ids: dict[str, Any]) -> list[Url]:
    urls: list[Url] = []
    for route, name, pattern in _patterns(get_resolver()):
        if not name:
            # The admin's catch-all; any unknown path under /admin/ reaches it.
            assert route.startswith("admin/"), f"unnamed URL pattern {route!r}: give it a name"
            urls.append(Url("admin:catch_all", route, "/admin/no-such-page/"))
            continue
        for kwargs in _arguments(pattern, ids):
            try:
                urls.append(Url(name, route, reverse(name, kwargs=kwargs)))
                break
            except NoReverseMatch:
                continue
        else:
            raise AssertionError(f"no arguments found for {name} ({route})")
    return urls


@dataclass
class World:
    institution: Institution
    guardian: User
    holder: Cardholder
    card: Card
    terminal: Terminal
    terminal_token: str
    personal_token: str
    staff: dict[str, User]

    @property
    def ids(self) -> dict[str, Any]:
        return {
            "holder_id": self.holder.pk,
            "terminal_id": self.terminal.pk,
            "institution_id": self.institution.pk,
            "number": self.card.number,
            "date": "2026-01-05",
            "provider": "test",
            "token": "no-such-token",
            "reference": "no-such-reference",
            "year": 2026,
            "month": 1,
            "uidb36": "1",
            "key": "no-such-key",
            "object_id": "999999",
            "content_type_id": 1,
        }


@pytest.fixture(autouse=True)
def _own_cache(settings: Any) -> Iterator[None]:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "security"}}
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world() -> World:
    institution = InstitutionFactory()
    guardian = UserFactory()
    holder = holder_with_balances(main=10000, extra=5000, institution=institution)
    guardianship_create(guardian=guardian, holder=holder)
    card = CardFactory(holder=holder)
    terminal, terminal_token = terminal_with_token(institution=institution)
    _token, personal_token = personal_token_create(user=guardian, name="script")
    staff = {}
    for role in Role:
        user = UserFactory()
        membership_grant(user=user, institution=institution, role=role)
        staff[role.value] = user
    return World(institution, guardian, holder, card, terminal, terminal_token, personal_token, staff)


def _client(world: World, who: str) -> Client:
    if who == "anonymous":
        return Client()
    if who == "terminal":
        return Client(HTTP_AUTHORIZATION=f"Bearer {world.terminal_token}")
    client = Client()
    client.force_login(world.guardian if who == "guardian" else world.staff[who])
    return client


def _answers(client: Client, url: Url) -> list[tuple[str, int]]:
    """The statuses of a GET, and for API endpoints of an empty JSON POST too."""
    answers = [("GET", client.get(url.path).status_code)]
    if url.route.startswith("api/v1/"):
        answers.append(("POST", client.post(url.path, {}, content_type="application/json").status_code))
    return answers


WHO = ["anonymous", "guardian", *[role.value for role in Role], "terminal"]


def test_every_role_is_in_the_matrix() -> None:
    assert set(WHO) == {"anonymous", "guardian", "terminal"} | {role.value for role in Role}


@pytest.mark.parametrize("who", WHO)
def test_the_role_endpoint_matrix(who: str, world: World) -> None:
    client = _client(world, who)
    wrong: list[str] = []
    for url in all_urls(world.ids):
        for method, status in _answers(client, url):
            if status >= 500:
                wrong.append(f"{method} {url.path} ({url.name}): {status}")
            elif status == 200 and url.name not in PUBLIC:
                if who in ("anonymous", "terminal") and not (
                    who == "terminal" and url.route.startswith(TERMINAL_API_PREFIX)
                ):
                    wrong.append(f"{method} {url.path} ({url.name}): 200 for {who}")
                elif who == "guardian" and url.route.startswith(STAFF_PREFIXES):
                    wrong.append(f"{method} {url.path} ({url.name}): 200 for a guardian")
                elif who in (Role.CANTEEN, Role.TEACHER) and url.route.startswith("admin/"):
                    wrong.append(f"{method} {url.path} ({url.name}): 200 for {who} staff")
    assert wrong == []


def test_the_matrix_reaches_the_terminal_api_with_a_terminal_token(world: World) -> None:
    # The matrix would pass vacuously if the token were refused everywhere.
    client = _client(world, "terminal")

    response = client.get("/api/v1/terminal/products")

    assert response.status_code == 200


def test_the_public_pages_exist() -> None:
    names = {url.name for url in all_urls({})}

    assert PUBLIC - names == set()


# Production hardening --------------------------------------------------------------------------

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k3J9vQ2pL8zR5wT1yU6nB4mC7xD0eF9gH2iK5jL8aS3dF6gH9jK2lZ5xC8vB1nM4",
    "ALLOWED_HOSTS": "cards.example.org",
}


def _production_environment() -> dict[str, str]:
    """Only what a production server is given: none of the test run's own variables."""
    return {"PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": "cardsystem.settings", **PRODUCTION}


def test_check_deploy_is_clean_with_the_production_environment() -> None:
    environment = _production_environment()

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_production_settings_redirect_to_https_and_secure_cookies() -> None:
    # Read in a fresh interpreter: the test run itself turns these off for plain-HTTP test clients.
    code = (
        "from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, "
        "s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD)"
    )
    environment = _production_environment()

    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.stdout.split() == ["True", "True", "True", "31536000", "True", "True"], result.stderr


@pytest.fixture
def production(settings: Any) -> Any:
    settings.DEBUG = False
    settings.SECURE_SSL_REDIRECT = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 365 * 24 * 3600
    return settings


def test_plain_http_is_redirected_to_https(production: Any) -> None:
    response = Client().get("/accounts/login/")

    assert (response.status_code, response["Location"]) == (301, "https://testserver/accounts/login/")


def test_the_health_check_answers_over_plain_http(production: Any) -> None:
    response = Client().get("/healthz")

    assert response.status_code != 301


def test_a_page_carries_the_security_headers(production: Any) -> None:
    response = Client().get("/accounts/login/", secure=True)

    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_a_page_carries_a_content_security_policy_of_its_own_origin(production: Any) -> None:
    response = Client().get("/accounts/login/", secure=True)

    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'self'"
    assert policy["script-src"].startswith("'self'")
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert policy["frame-ancestors"] == "'none'"


def test_an_inline_script_carries_the_policys_nonce(world: World) -> None:
    client = Client()
    client.force_login(world.staff[Role.CANTEEN])

    response = client.get(f"/self-service/{world.terminal.pk}/")

    nonce = response["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in response.content.decode()


def test_the_session_cookie_is_secure_and_http_only(production: Any, world: World) -> None:
    client = Client()

    response = client.post(
        "/accounts/login/", {"login": world.guardian.email, "password": "test-password-1"}, secure=True
    )

    cookie = response.cookies[django_settings.SESSION_COOKIE_NAME]
    assert (cookie["secure"], cookie["httponly"]) == (True, True)


# Token rate limits -----------------------------------------------------------------------------


@pytest.fixture
def low_rates(settings: Any) -> Any:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"terminal": "3/min", "personal_token": "2/min"},
    }
    return settings


def test_a_terminal_token_over_its_rate_gets_429_with_the_error_body(low_rates: Any, world: World) -> None:
    client = _client(world, "terminal")
    statuses = [client.get("/api/v1/terminal/products").status_code for _ in range(3)]

    response = client.get("/api/v1/terminal/products")

    assert statuses == [200, 200, 200]
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) > 0


def test_a_personal_token_over_its_rate_gets_429_with_the_error_body(low_rates: Any, world: World) -> None:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {world.personal_token}")
    statuses = [client.get("/api/v1/me/holders").status_code for _ in range(2)]

    response = client.get("/api/v1/me/holders")

    assert statuses == [200, 200]
    assert (response.status_code, response.json()["error"]["code"]) == (429, "throttled")


def test_each_terminal_has_its_own_allowance(low_rates: Any, world: World) -> None:
    busy = _client(world, "terminal")
    for _ in range(4):
        busy.get("/api/v1/terminal/products")
    _other, other_token = terminal_with_token(institution=world.institution)

    response = Client(HTTP_AUTHORIZATION=f"Bearer {other_token}").get("/api/v1/terminal/products")

    assert response.status_code == 200


def test_the_signed_in_portal_is_not_held_back_by_token_rates(low_rates: Any, world: World) -> None:
    client = _client(world, "guardian")

    statuses = {client.get("/api/v1/me/holders").status_code for _ in range(4)}

    assert statuses == {200}
