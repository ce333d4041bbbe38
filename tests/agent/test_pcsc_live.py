"""The agent with real PC/SC against the live test server (pytest-django's live_server)."""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Callable
from typing import Any

import pytest

from canteen.meal_calendar import local_today
from canteen.models import MealPolicy, MealPrice, SchoolDay
from cards.models import Cardholder
from terminals.agent.client import ApiClient
from terminals.agent.config import Config
from terminals.agent.queue import ReadQueue
from terminals.models import Scan, Terminal
from tests.agent.conftest import Pcscd, wait_for
from tests.agent.virtual_card import VirtualCard
from tests.factories import card_with_balances, terminal_with_token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def till(live_server: Any) -> tuple[Terminal, str, str]:
    terminal, token = terminal_with_token()
    for uid in ("04A1B2C3D4E5F6", "04B2C3D4E5F607"):
        card_with_balances(uid=uid, main=10000, extra=5000, institution=terminal.institution)
    return terminal, token, live_server.url


def scans(terminal: Terminal) -> list[tuple[str, int | None]]:
    return list(Scan.objects.filter(terminal=terminal).order_by("pk").values_list("card__uid", "sequence"))


def test_insert_card_scan_reaches_server_once(
    till: tuple[Terminal, str, str], cards: Callable[..., VirtualCard], agent_factory: Any, pcscd: Pcscd
) -> None:
    terminal, token, url = till
    out = io.StringIO()
    agent_factory(server=url, token=token, out=out)
    card = cards("04A1B2C3D4E5F6")
    card.insert()
    wait_for(lambda: scans(terminal), 5, what="the scan on the server")
    wait_for(lambda: "✔" in out.getvalue(), 3, what="the result line")
    time.sleep(1.0)  # the card stays on the reader
    assert scans(terminal) == [("04A1B2C3D4E5F6", 0)]
    assert "main 100.00 · extra 50.00" in out.getvalue()
    scan = Scan.objects.get(terminal=terminal)
    assert scan.read_at is not None


def test_remove_and_insert_another_is_a_second_scan(
    till: tuple[Terminal, str, str], cards: Callable[..., VirtualCard], agent_factory: Any, pcscd: Pcscd
) -> None:
    terminal, token, url = till
    agent_factory(server=url, token=token)
    pcscd.present(cards("04A1B2C3D4E5F6"))
    pcscd.present(cards("04B2C3D4E5F607"))
    wait_for(lambda: len(scans(terminal)) == 2, 5, what="two scans on the server")
    assert scans(terminal) == [("04A1B2C3D4E5F6", 0), ("04B2C3D4E5F607", 1)]


def test_unknown_card_is_set_aside(
    till: tuple[Terminal, str, str], cards: Callable[..., VirtualCard], agent_factory: Any, pcscd: Pcscd
) -> None:
    _terminal, token, url = till
    out = io.StringIO()
    agent = agent_factory(server=url, token=token, out=out)
    pcscd.present(cards("0BADCAFE"))
    wait_for(lambda: agent.queue.rejected(), 5, what="the refusal")
    [rejected] = agent.queue.rejected()
    assert (rejected.uid, rejected.status, rejected.code) == ("0BADCAFE", 404, "card_unknown")
    assert "unknown card" in out.getvalue()
    assert agent.status()["waiting"] == 0


def test_resent_read_is_recorded_once(till: tuple[Terminal, str, str], tmp_path: Any) -> None:
    """An agent that lost the server's answer sends the same read again: the server records it once."""
    terminal, token, url = till
    client = ApiClient(Config(server=url, token=token))
    read = ReadQueue(tmp_path / "q.sqlite3").add("04A1B2C3D4E5F6", mode="scan")
    first, again = client.send(read), client.send(read)
    client.close()
    assert (first.kind, again.kind) == ("delivered", "delivered")
    assert first.body == again.body
    assert scans(terminal) == [("04A1B2C3D4E5F6", 0)]


def test_bad_token_keeps_reads(
    till: tuple[Terminal, str, str], cards: Callable[..., VirtualCard], agent_factory: Any, pcscd: Pcscd
) -> None:
    terminal, _token, url = till
    agent = agent_factory(server=url, token="not-the-token")
    pcscd.present(cards("04A1B2C3D4E5F6"))
    wait_for(lambda: agent.status()["waiting"] == 1, 5, what="the read kept in the queue")
    time.sleep(0.5)
    assert agent.status() == {"waiting": 1, "rejected": 0, "delivered": 0}
    assert scans(terminal) == []


def lunch_today(terminal: Terminal) -> None:
    """Today a school day at the terminal's school, serving all day to walk-ins (the test may run at any hour)."""
    institution = terminal.institution
    MealPolicy.objects.create(
        institution=institution, serving_start=dt.time(0, 0), serving_end=dt.time(23, 59, 59), walk_ins_allowed=True
    )
    for holder in Cardholder.objects.filter(institution=institution):
        MealPrice.objects.get_or_create(
            institution=institution, price_category=holder.price_category, defaults={"price_cents": 2500}
        )
    SchoolDay.objects.create(institution=institution, date=local_today(institution=institution), option1="Soup")


def test_serve_mode_serves_a_meal(
    till: tuple[Terminal, str, str], cards: Callable[..., VirtualCard], agent_factory: Any, pcscd: Pcscd
) -> None:
    terminal, token, url = till
    lunch_today(terminal)
    out = io.StringIO()
    agent = agent_factory(server=url, token=token, out=out, mode="serve")
    pcscd.present(cards("04A1B2C3D4E5F6"))
    wait_for(lambda: agent.status()["delivered"] == 1, 5, what="the meal served")
    assert "SERVE" in out.getvalue()


def test_serve_mode_second_meal_refused(
    till: tuple[Terminal, str, str], cards: Callable[..., VirtualCard], agent_factory: Any, pcscd: Pcscd
) -> None:
    terminal, token, url = till
    lunch_today(terminal)
    out = io.StringIO()
    agent = agent_factory(server=url, token=token, out=out, mode="serve")
    pcscd.present(cards("04A1B2C3D4E5F6"))
    pcscd.present(cards("04A1B2C3D4E5F6"))
    wait_for(lambda: agent.queue.rejected(), 5, what="the second meal refused")
    assert agent.queue.rejected()[0].code == "already_served_today"
    assert "ALREADY SERVED TODAY" in out.getvalue()
