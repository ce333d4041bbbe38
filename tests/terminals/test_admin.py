"""The terminal admin: tokens issued once through an action, stored as digests, revocable."""

import re
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from accounts.models import Institution
from accounts.tokens import token_digest
from cards.models import Card
from terminals.models import Terminal, TerminalToken
from tests.factories import InstitutionFactory, TerminalFactory, card_with_balances, terminal_with_token

pytestmark = pytest.mark.django_db

TOKEN_ON_PAGE = re.compile(r'<code class="terminal-token" data-terminal="(\d+)">([A-Za-z0-9_-]+)</code>')


@pytest.fixture
def school() -> Institution:
    return InstitutionFactory()


@pytest.fixture
def terminal(school: Institution) -> Terminal:
    return TerminalFactory(institution=school, name="Canteen 1")


@pytest.fixture
def card(school: Institution) -> Card:
    return card_with_balances(extra=5000, institution=school)


def issue_through_admin(client: Client, terminal: Terminal) -> tuple[Any, str]:
    response = client.post(
        reverse("admin:terminals_terminal_changelist"),
        {"action": "issue_token", "_selected_action": [terminal.pk]},
    )
    match = TOKEN_ON_PAGE.search(response.content.decode())
    assert match is not None, "the action's page shows no token"
    assert int(match.group(1)) == terminal.pk
    return response, match.group(2)


def scan(token: str, uid: str) -> Any:
    return Client().post(
        "/api/v1/terminal/scans",
        {"uid": uid},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_token_issued_through_the_admin_action_authenticates_the_terminal_api(
    admin_client: Client, terminal: Terminal, card: Card
) -> None:
    _response, token = issue_through_admin(admin_client, terminal)
    response = scan(token, card.uid)
    assert response.status_code == 200
    assert response.json()["card"]["number"] == card.number


def test_token_issued_through_the_admin_is_stored_only_as_its_digest(admin_client: Client, terminal: Terminal) -> None:
    _response, token = issue_through_admin(admin_client, terminal)
    stored = TerminalToken.objects.get(terminal=terminal)
    assert stored.digest == token_digest(token)
    assert stored.digest != token
    assert token.startswith(stored.prefix) and len(stored.prefix) < len(token)


def test_token_issued_through_the_admin_is_kept_in_no_session_cookie_or_log(
    admin_client: Client, terminal: Terminal
) -> None:
    response, token = issue_through_admin(admin_client, terminal)
    assert not any(token in str(session.get_decoded()) for session in Session.objects.all())
    assert not any(token in morsel.value for morsel in response.cookies.values())
    assert not any(token in entry.change_message for entry in LogEntry.objects.all())


def test_token_issued_through_the_admin_is_not_shown_again(admin_client: Client, terminal: Terminal) -> None:
    _response, token = issue_through_admin(admin_client, terminal)
    for url in (
        reverse("admin:terminals_terminal_changelist"),
        reverse("admin:terminals_terminal_change", args=[terminal.pk]),
    ):
        assert token not in admin_client.get(url).content.decode()


def test_page_showing_a_new_token_forbids_caching(admin_client: Client, terminal: Terminal) -> None:
    response, _token = issue_through_admin(admin_client, terminal)
    assert "no-store" in response["Cache-Control"]


def test_token_issue_is_recorded_in_the_terminal_history_by_its_prefix(
    admin_client: Client, terminal: Terminal
) -> None:
    _response, token = issue_through_admin(admin_client, terminal)
    entry = LogEntry.objects.get(object_id=str(terminal.pk))
    assert token[:8] in entry.change_message


def test_token_revoked_through_the_admin_action_makes_the_api_answer_401(
    admin_client: Client, school: Institution, card: Card
) -> None:
    terminal, token = terminal_with_token(institution=school)
    assert scan(token, card.uid).status_code == 200
    stored = TerminalToken.objects.get(terminal=terminal)
    admin_client.post(
        reverse("admin:terminals_terminaltoken_changelist"),
        {"action": "revoke_tokens", "_selected_action": [stored.pk]},
    )
    stored.refresh_from_db()
    assert stored.revoked_at is not None
    assert scan(token, card.uid).status_code == 401


def test_token_changelist_and_terminal_page_render_without_the_digest(admin_client: Client, terminal: Terminal) -> None:
    terminal, _token = terminal_with_token(institution=terminal.institution)
    stored = TerminalToken.objects.get(terminal=terminal)
    for url in (
        reverse("admin:terminals_terminaltoken_changelist"),
        reverse("admin:terminals_terminal_change", args=[terminal.pk]),
    ):
        response = admin_client.get(url)
        assert response.status_code == 200
        assert stored.prefix in response.content.decode()
        assert stored.digest not in response.content.decode()


def test_scan_changelist_renders(admin_client: Client, school: Institution, card: Card) -> None:
    _terminal, token = terminal_with_token(institution=school)
    scan(token, card.uid)
    response = admin_client.get(reverse("admin:terminals_scan_changelist"))
    assert response.status_code == 200
    assert card.number in response.content.decode()
